"""Follow-ups: rewrite a question that leans on the conversation into one that stands alone,
and the question's intent.

Whether a question asked after others is a follow-up is learned from the labelled bank's
conversations (rag/models/followup.json): whether it refers back ("it", "the second one",
"which of them"), how many words and key terms it has, whether it names a paper or a rare
term of the collection, and how much of it the conversation already holds. "What is MEND?"
after a list on another topic is a question of its own; "how long does it take to train?"
is not.

The papers a follow-up refers to are resolved from the conversation: "the second one" is the
second paper of the last list, "the other one" a paper named before but not in the last
answer, "it" the paper the last answer named first, "both" or "these" every paper it named.
With an LLM, the model also rewrites the question (prompts/condense.txt). Offline, those
papers and the last question's terms are carried into the search.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag import learned
from rag.extractive import names_title
from rag.intent import Intent, intent_of
from rag.keyword import STOPWORDS, tokenize
from rag.llm import LLMError
from rag.question import Message, Question, carried
from rag.relevance import found, key_terms, title_head

if TYPE_CHECKING:
    from rag.llm import LLMAnswerer

REFERS_BACK = re.compile(
    r"\b(?:it|its|itself|this|that|these|those|they|them|their|theirs|above|previous|same"
    r"|other|another|former|latter|both|each"
    r"|the (?:paper|papers|method|methods|approach|model|models|authors?|work|study"
    r"|first|second|third|fourth|fifth|last)|which (?:one|of))\b"
    r"|^\s*(?:(?:what|how) about|and|also)\b",
    re.IGNORECASE,
)
PLURAL = re.compile(r"\b(?:them|these|those|both|each|papers|methods|models)\b", re.I)
THEY = re.compile(r"\b(?:they|their)\b", re.I)
SINGULAR = re.compile(r"\b(?:it|its|this|that|the (?:paper|method|approach|model|work))\b", re.I)
ORDINAL = re.compile(r"\b(first|second|third|fourth|fifth|sixth|last)\b", re.I)
ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4, "sixth": 5, "last": -1}
OTHER = re.compile(r"\b(?:other|another)\b", re.I)


@dataclass(kw_only=True)
class Condensed(Question):
    """A question with what it means on its own: `standalone` is what is searched for."""

    standalone: str  # the question itself, unless it is a follow-up
    intent: Intent  # what the question's own words ask for
    referred: list[str]  # the titles of the papers a follow-up refers to
    rewritten: bool  # a language model wrote `standalone`


def condense(
    asked: Question,
    titles: Callable[[], list[str]],
    paper_frequency: Callable[[str], int],
    llm: LLMAnswerer | None,
) -> Condensed:
    """Stage 1: a follow-up becomes a standalone question, and the papers it refers to known.
    `titles` gives the collection's titles (read only for a question with history)."""
    started = time.perf_counter()
    question, history = asked.question, asked.history
    standalone, referred, rewritten = question, [], False
    known = titles() if history else []
    if is_follow_up(question, history, known, paper_frequency):
        referred = referents(question, history, known)
        standalone = condense_offline(question, history, known)
        if asked.use_llm and llm is not None:
            try:
                standalone = llm.condense(question, format_history(history))
                rewritten = True
            except LLMError as exc:
                asked.notices.append(f"Could not rewrite the follow-up with the LLM: {exc}.")
    asked.timings["condense"] = time.perf_counter() - started
    return Condensed(
        **carried(asked, Question),
        standalone=standalone,
        intent=intent_of(question),
        referred=referred,
        rewritten=rewritten,
    )


def leaning(asked: Condensed, titles: Sequence[str]) -> Condensed:
    """The question read as leaning on the previous turn though it does not say so: "What
    datasets were used?" after a question on a paper is about that paper."""
    return Condensed(
        **carried(asked, Question),
        standalone=condense_offline(asked.question, asked.history, titles),
        intent=asked.intent,
        referred=referents(asked.question, asked.history, titles),
        rewritten=asked.rewritten,
    )


def follow_up_features(
    question: str,
    history: list[Message],
    titles: Sequence[str],
    paper_frequency: Callable[[str], int],
) -> dict[str, float]:
    """The follow-up model's evidence that `question` leans on `history`."""
    terms = key_terms(question)
    frequencies = [paper_frequency(t) for t in terms]
    said = set(tokenize([" ".join(m["content"] for m in history[-2:])])[0])
    count = max(len(terms), 1)
    return {
        "refers_back": float(bool(REFERS_BACK.search(question))),
        "words": min(len(question.split()), 20) / 20,
        "terms": min(len(terms), 10) / 10,
        "rare": sum(0 < f <= 2 for f in frequencies) / count,
        "unknown": sum(f == 0 for f in frequencies) / count,
        "said": sum(found(t, said) for t in terms) / count,
        "names": float(any(names_title(question, t) for t in titles)),
    }


def is_follow_up(
    question: str,
    history: list[Message],
    titles: Sequence[str],
    paper_frequency: Callable[[str], int],
) -> bool:
    """Whether the question leans on the conversation, by the follow-up model."""
    if not history:
        return False
    features = follow_up_features(question, history, titles, paper_frequency)
    return learned.model("followup").probability(features) >= 0.5


def last(history: list[Message], role: str) -> str:
    return next((m["content"] for m in reversed(history) if m["role"] == role), "")


def mentioned(text: str, titles: Sequence[str]) -> list[str]:
    """The titles `text` names (in full or by their head), in the order it names them."""

    def position(title: str) -> int:
        head = title_head(title)
        return next((i for i in (text.find(title), text.find(head)) if i >= 0), len(text))

    return sorted((t for t in titles if t and names_title(text, t)), key=position)


def referents(question: str, history: list[Message], titles: Sequence[str]) -> list[str]:
    """The titles of the papers a follow-up refers to."""
    answers = [m["content"] for m in history if m["role"] == "assistant"]
    turns = [mentioned(a, titles) for a in answers]
    latest = next((t for t in reversed(turns) if t), [])
    ordinal = ORDINAL.search(question)
    if ordinal:
        listed = next((t for t in reversed(turns) if len(t) >= 2), latest)
        index = ORDINALS[ordinal.group(1).lower()]
        if listed and index < len(listed):
            return [listed[index]]
    if OTHER.search(question):
        earlier = [t for turn in turns for t in turn if t not in latest]
        if earlier:
            return [earlier[-1]]
    plural = PLURAL.search(question) or (THEY.search(question) and not SINGULAR.search(question))
    return latest if plural else latest[:1]


def condense_offline(question: str, history: list[Message], titles: Sequence[str]) -> str:
    """The follow-up plus the subject of the previous turn, for retrieval."""
    words = re.findall(r"[\w-]+", last(history, "user"))
    terms = [w for w in words if w.lower() not in STOPWORDS and len(w) > 2]
    subject = referents(question, history, titles)
    return " ".join([question, *subject, *terms]).strip()


def format_history(history: list[Message], max_chars: int = 4000) -> str:
    """The recent conversation as plain text for the condense prompt."""
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in history[-6:]]
    return "\n".join(lines)[-max_chars:]
