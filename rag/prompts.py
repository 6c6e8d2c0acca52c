"""Prompts: plain text files in `prompts/`, loaded by name; files in a folder can override them."""

from __future__ import annotations

import string
from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "prompts"
PLACEHOLDERS = {
    "system": set(),
    "answer": {"sources", "question"},
    "brief": set(),
    "brief_answer": {"question", "title", "quotes"},
    "condense": {"history", "question"},
    "abstain": {"topic"},
    "empty": {"collection", "where"},
    "judge": {"claim", "evidence"},
    "check": {"question", "title", "abstract"},
}


class PromptError(ValueError):
    """A prompt override that is missing or lacks a placeholder."""


def load_prompts(override_dir: Path | None = None) -> dict[str, str]:
    """Every prompt by name; files in `override_dir` replace the shipped ones of the same name."""
    prompts = {}
    for name, needed in PLACEHOLDERS.items():
        path = DEFAULT_DIR / f"{name}.txt"
        if override_dir and (override_dir / f"{name}.txt").exists():
            path = override_dir / f"{name}.txt"
        text = path.read_text(encoding="utf-8").strip()
        found = {field for _, field, _, _ in string.Formatter().parse(text) if field}
        if found != needed:
            raise PromptError(
                f"{path}: has placeholders {sorted(found)};"
                f" the {name!r} prompt needs {sorted(needed)}"
            )
        prompts[name] = text
    return prompts
