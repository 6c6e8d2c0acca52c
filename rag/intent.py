"""What a question asks for, from a model learned on the labelled bank (rag/models/intent.json):
a list of papers, what something is, how it works, what it found, a number, a detail, a
summary, or a comparison. The answer's form and the sentences it quotes follow from it. The
model reads the question's words and word pairs, and whether it asks for a measure."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal, get_args

from rag import learned
from rag.relevance import QUANTITY

Intent = Literal[
    "list", "define", "mechanism", "result", "quantity", "detail", "summary", "compare"
]
INTENTS: tuple[Intent, ...] = get_args(Intent)
# What a "how accurate / how fast / how many" question measures, and how a sentence states it.
MEASURES = [
    (
        re.compile(r"\baccura|\bprecis|\berror rate", re.I),
        re.compile(r"accura|precision|recall|\bf1\b|%", re.I),
    ),
    (
        re.compile(r"\bhow (?:fast|quickly)|\bspeed", re.I),
        re.compile(r"fast|speed|latenc|throughput|\d\s*[x\u00d7]", re.I),
    ),
    (
        re.compile(
            r"\bby how much|\bhow much\b.*\b(?:reduc|shorten|improv|increas|decreas|sav|cut"
            r"|lower|rais|boost|gain)|\bwhat (?:fraction|share|percentage|proportion)",
            re.I,
        ),
        re.compile(r"\d\s*(?:%|\u00d7|x\b|times|fold|percent)|\bhalf\b", re.I),
    ),
    (re.compile(r"\bhow (?:many|much|often|large|big)|\bnumber of", re.I), QUANTITY),
]


def intent_signals(question: str) -> dict[str, float]:
    """What the intent model reads beside the question's words: whether it asks for a
    measure ("how accurate", "how fast", "by how much"), however it is worded."""
    return {"asks_measure": float(any(asks.search(question) for asks, _ in MEASURES))}


@lru_cache(maxsize=1024)
def intent_of(question: str) -> Intent:
    """The question's most likely intent (its own words: a follow-up's "how does it work?"
    asks for a mechanism whatever it refers to)."""
    (intent,) = learned.model("intent").predict([question], [intent_signals(question)])
    return intent


def intent_features(intent: Intent) -> dict[str, float]:
    """The intent as one indicator feature per kind, for the models that depend on it."""
    return {f"intent_{name}": float(name == intent) for name in INTENTS}
