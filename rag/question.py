"""Stage 0, validate: the question as asked becomes a `Question`, cleaned, bounded and
checked, with the conversation before it and how it is to be answered."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.search import Filters, Mode

Message = dict[str, str]  # {"role": "user" | "assistant", "content": str}
Answerer = Literal["auto", "extractive", "llm"]

# Terminal escape sequences, then control characters and U+FFFD (what undecodable bytes become).
CONTROL_CHARACTERS = re.compile(
    r"\x1b\[[0-9;]*[A-Za-z]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]"
)
ENGLISH_ONLY = (
    "PaperChat's models are English-only: a question in another script is likely to find"
    " nothing; try asking in English."
)
NO_LLM = "no language model is configured: set OPENAI_API_KEY or OPENAI_BASE_URL"


class QuestionError(ValueError):
    """A question that cannot be asked as it is (empty, say)."""


@dataclass(kw_only=True)
class Question:
    """A question ready to answer. Each later stage's value extends this one."""

    question: str  # cleaned, and cut to PAPERCHAT_ANSWER_MAX_QUESTION_CHARS
    history: list[Message]
    use_llm: bool  # whether a language model takes part (condensing, answering)
    filters: Filters | None
    k: int  # the sources shown
    mode: Mode
    notices: list[str]  # said above the answer; later stages add theirs
    timings: dict[str, float]  # seconds per stage; later stages add theirs


def carried(value: Question, stage: type[Question]) -> dict[str, Any]:
    """What `value` holds of the fields of `stage` (its own type or one it extends): the start
    of the next stage's value."""
    return {name: getattr(value, name) for name in stage.__dataclass_fields__}


def mostly_non_latin(text: str) -> bool:
    """Whether most letters of `text` are of another script than Latin (Chinese, Cyrillic…)."""
    letters = [c for c in text if c.isalpha()]
    latin = sum(unicodedata.name(c, "").startswith("LATIN") for c in letters)
    return latin * 2 < len(letters)


def clean_question(raw: str) -> str:
    """A question without control characters, its whitespace squashed."""
    return " ".join(CONTROL_CHARACTERS.sub("", raw).split())


def validate_history(history: Sequence[Message] | None) -> list[Message]:
    """Messages in the OpenAI/Gradio form, or a ValueError saying what is wrong."""
    messages = []
    for index, message in enumerate(history or []):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise ValueError(
                f"history[{index}] must be {{'role': 'user'|'assistant', 'content': str}}"
            )
        content = message.get("content")
        if isinstance(content, list):  # Gradio 6 sends a list of parts: keep the text ones
            content = " ".join(
                part.get("text", "")
                for part in content
                if isinstance(part, dict) and part.get("type") == "text"
            )
        if isinstance(content, str) and content.strip():
            messages.append({"role": message["role"], "content": content})
    return messages


def validate(
    raw: object,
    history: Sequence[Message] | None,
    answerer: Answerer,
    llm_configured: bool,
    settings: Settings,
    filters: Filters | None = None,
    k: int | None = None,
    mode: Mode = "hybrid",
) -> Question:
    """The question to answer, or a QuestionError that says why it cannot be asked."""
    text = str(raw or "")
    if not text.strip():
        raise QuestionError("the question is empty: ask something about the papers")
    question = clean_question(text)
    if not any(c.isalnum() for c in question):
        raise QuestionError("the question has no words in it: ask something about the papers")
    notices = []
    limit = settings.answer.max_question_chars
    if len(question) > limit:
        notices.append(
            f"Your question was {len(question):,} characters long; only the first "
            f"{limit:,} were used."
        )
        question = question[:limit]
    if mostly_non_latin(question):
        notices.append(ENGLISH_ONLY)
    messages = validate_history(history)
    if answerer == "llm" and not llm_configured:
        raise QuestionError(NO_LLM)
    return Question(
        question=question,
        history=messages,
        use_llm=llm_configured and answerer in ("llm", "auto"),
        filters=filters,
        k=k or settings.answer.sources,
        mode=mode,
        notices=notices,
        timings={},
    )
