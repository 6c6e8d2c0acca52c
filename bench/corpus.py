"""Realistic generated abstracts for scale benchmarks, streamed to JSONL; nothing downloaded.

Each generated paper keeps the shape of a real one: its sentences come, position by position,
from the 109 real abstracts of the two collections in `data/` (opening
sentences stay openings, results stay last), its numbers are redrawn, it introduces a method
with a made-up name that its title carries, and it has authors and a date. Paper `i` depends
only on `i` and the seed, so any range can be generated on its own.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from datetime import date, timedelta
from functools import cache
from pathlib import Path

from rag.load import load_file
from rag.split import split_sentences

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [
    ROOT / "data" / "daily_papers.txt",
    ROOT / "data" / "hf_daily_papers_2026-10-03.json",
]
SYLLABLES = [
    "ka",
    "ro",
    "vi",
    "ne",
    "tal",
    "mor",
    "sen",
    "qua",
    "li",
    "dra",
    "fen",
    "zu",
    "pax",
    "el",
    "tor",
    "bi",
    "chi",
    "go",
    "ran",
    "sol",
    "mi",
    "ve",
    "ost",
    "lu",
]
SUFFIXES = ["", "", "Net", "-LM", "Bench", "++", "-X", "Former", "GPT", "RL"]
FIRST_DAY, DAYS = date(2019, 1, 1), (date(2026, 10, 31) - date(2019, 1, 1)).days
NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")


@cache
def real_papers() -> tuple[list[list[str]], list[str], list[str], list[str]]:
    """Sentences of each real abstract, their titles, and first and last names of authors."""
    papers = [p for source in SOURCES if source.exists() for p in load_file(source).papers]
    names = [a.split() for p in papers for a in p.authors if len(a.split()) >= 2]
    return (
        [split_sentences(p.abstract) for p in papers],
        [p.title for p in papers],
        sorted({n[0] for n in names}) or ["Alex"],
        sorted({n[-1] for n in names}) or ["Smith"],
    )


def method_name(rng: random.Random) -> str:
    stem = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
    return stem + rng.choice(SUFFIXES)


def redraw(number: re.Match, rng: random.Random) -> str:
    text = number.group(0)
    if "." in text:
        decimals = len(text.split(".")[1])
        return f"{float(text) * rng.uniform(0.6, 1.4):.{decimals}f}"
    value = int(text)
    return text if 1900 <= value <= 2100 else str(max(1, round(value * rng.uniform(0.6, 1.4))))


def generated_paper(index: int, seed: int = 0) -> dict:
    rng = random.Random(f"{seed}-{index}")
    abstracts, titles, firsts, lasts = real_papers()
    base = rng.randrange(len(abstracts))
    name = method_name(rng)
    sentences = []
    for position, sentence in enumerate(abstracts[base]):
        if rng.random() < 0.5:  # the same position of another abstract
            other = abstracts[rng.randrange(len(abstracts))]
            sentence = other[
                min(len(other) - 1, round(position * len(other) / len(abstracts[base])))
            ]
        sentences.append(NUMBER.sub(lambda m: redraw(m, rng), sentence))
    sentences.insert(min(2, len(sentences)), f"We call the resulting method {name}.")
    topic = titles[base].split(": ", 1)[-1]
    return {
        "id": f"gen-{seed}-{index:07d}",
        "title": f"{name}: {topic}",
        "abstract": " ".join(sentences),
        "authors": [f"{rng.choice(firsts)} {rng.choice(lasts)}" for _ in range(rng.randint(2, 7))],
        "date": (FIRST_DAY + timedelta(days=rng.randrange(DAYS))).isoformat(),
    }


def generated_papers(start: int, stop: int, seed: int = 0) -> Iterator[dict]:
    return (generated_paper(i, seed) for i in range(start, stop))


def write_collection(path: Path, start: int, stop: int, seed: int = 0) -> Path:
    """Papers `start`..`stop`-1 as JSONL at `path`, written a line at a time."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    with partial.open("w") as out:
        for paper in generated_papers(start, stop, seed):
            out.write(json.dumps(paper) + "\n")
    partial.rename(path)
    return path
