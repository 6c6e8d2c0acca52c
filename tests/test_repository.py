"""The repository stands alone: nothing in it reads a path outside its own tree."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT

SKIPPED_FOLDERS = {".git", ".venv", ".paperchat", "test-artifacts", "eval-results"}
# A sibling checkout's files, named outright.
SIBLING = re.compile(r"\.\./+shared\b|\bshared/corpus\b|/ *\"shared[/\"]")
# Climbing from a module's own path: the root's parent, or too many parents of the file.
ROOT_PARENT = re.compile(r"\bROOT\.parent\b")
FILE_CLIMB = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?((?:\.parent\b)+|\.parents\[(\d+)\])")


def tracked_files() -> list[Path]:
    """The files git tracks; in a copy without git, every file outside build folders."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
        ).stdout
        return [ROOT / name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        return [
            p
            for p in ROOT.rglob("*")
            if p.is_file() and not SKIPPED_FOLDERS & set(p.relative_to(ROOT).parts)
        ]


def outside_references(relative: str, text: str) -> list[str]:
    """The places in a file (its path relative to the root) that name a path above the root."""
    found = [m.group(0) for m in SIBLING.finditer(text)]
    if relative.endswith(".py"):
        found += [m.group(0) for m in ROOT_PARENT.finditer(text)]
        depth = len(Path(relative).parts)  # levels from the file up to the root
        for match in FILE_CLIMB.finditer(text):
            chain, index = match.groups()
            levels = int(index) + 1 if index is not None else chain.count(".parent")
            if levels > depth:
                found.append(match.group(0))
    return found


def test_no_tracked_file_names_a_path_outside_the_repository():
    offenders = {}
    this_file = Path(__file__).resolve()  # its samples below name such paths on purpose
    for path in tracked_files():
        if path.resolve() != this_file and path.exists() and path.stat().st_size < 2_000_000:
            relative = path.relative_to(ROOT).as_posix()
            found = outside_references(relative, path.read_text(errors="replace"))
            if found:
                offenders[relative] = found
    assert not offenders, f"these files read outside the repository: {offenders}"


UP = "../"  # written apart, so that no search for the pattern finds this file


@pytest.mark.parametrize(
    ("relative", "text", "outside"),
    [
        ("tests/conftest.py", "HF = ROOT.parent / 'data' / 'x.json'", True),
        ("bench/corpus.py", f'Path("{UP}shared/x.json")', True),
        ("Makefile", f"cp {UP}shared/x.json data/", True),
        ("tests/conftest.py", "ROOT = Path(__file__).resolve().parents[1]", False),
        ("tests/conftest.py", "ROOT = Path(__file__).resolve().parents[2]", True),
        ("bench/scale.py", "Path(__file__).parent.parent", False),
        ("bench/scale.py", "Path(__file__).parent.parent.parent", True),
        ("tests/conftest.py", 'DATA = ROOT / "data" / "x.json"', False),
    ],
)
def test_outside_references_are_found(relative, text, outside):
    assert bool(outside_references(relative, text)) == outside


def test_shipped_collections_are_in_the_repository():
    from conftest import DEFAULT_COLLECTION, HF_JSON

    for path in (DEFAULT_COLLECTION, HF_JSON):
        assert path.is_relative_to(ROOT) and path.is_file()
