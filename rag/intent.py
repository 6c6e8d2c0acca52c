"""What a question asks for, from a model learned on the labelled bank (rag/models/intent.json):
a list of papers, what something is, how it works, what it found, a number, a detail, a
summary, or a comparison. The answer's form and the sentences it quotes follow from it."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal, get_args

from rag import learned

Intent = Literal[
    "list", "define", "mechanism", "result", "quantity", "detail", "summary", "compare"
]
INTENTS: tuple[Intent, ...] = get_args(Intent)


@lru_cache(maxsize=1024)
def intent_of(question: str) -> Intent:
    """The question's most likely intent (its own words: a follow-up's "how does it work?"
    asks for a mechanism whatever it refers to)."""
    (intent,) = learned.model("intent").predict([question])
    return intent


def intent_features(intent: Intent) -> dict[str, float]:
    """The intent as one indicator feature per kind, for the models that depend on it."""
    return {f"intent_{name}": float(name == intent) for name in INTENTS}
