"""What an answer is: its text, the papers it cites (`Citation`) and, for a model's answer,
each checked sentence (`Claim`). The chain builds these; the UI, the CLI and the exports read
them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

from rag.export import answer_markdown, bibtex
from rag.load import Listing

if TYPE_CHECKING:
    from rag.search import Hit

EXTRACTIVE = "extractive"  # the offline answerer's name, where a model's name stands otherwise
Status = Literal["cited", "added", "moved", "unsupported", "repeated"]
# What an answer does: answers from the papers; says no paper states it directly and offers
# the closest one; says the named paper's abstract does not state it; or finds nothing.
Outcome = Literal["answered", "closest", "not_stated", "refused"]
# How the UI and the CLI mark an answer that is not a direct one.
OUTCOME_LABELS: dict[str, str] = {
    "closest": "closest match: no paper says this directly",
    "not_stated": "not stated in the abstract",
    "refused": "no paper on this in the collection",
}


@dataclass
class Claim:
    """One sentence of the model's answer that states something, and what became of it."""

    text: str  # as the model wrote it, without citations or markup
    cited: list[int]  # the sources the model cited (as numbered in the answer, once done)
    support: float  # how well `source` supports it; left out: how well the best source does
    status: Status
    source: int | None = None  # the source it is attributed to in the answer

    STATUSES: ClassVar = get_args(Status)


@dataclass
class Citation:
    """One cited paper: `[number]` in the answer text, and the sentence that supports it."""

    number: int
    paper_id: str
    title: str
    url: str
    quote: str
    score: float  # the cosine of the question and the paper's best chunk
    abstract: str = ""
    relevance: float = 0.0  # the chance that the paper addresses the question (relevance.py)
    authors: list[str] = field(default_factory=list)
    date: str = ""
    listing: Listing = field(default_factory=Listing)


@dataclass
class Answer:
    """A grounded answer. `text` is markdown whose `[n]` are `citations[n-1]`."""

    question: str
    text: str
    citations: list[Citation]
    abstained: bool  # refused, or the named paper does not state it: no answer was given
    answerer: str  # EXTRACTIVE or the LLM's model name
    timings: dict[str, float]
    standalone_question: str = ""
    notices: list[str] = field(default_factory=list)
    fell_back: bool = False  # the LLM failed, or wrote nothing supported: extractive stood in
    sources: list[Hit] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)  # an LLM answer's sentences, checked
    outcome: Outcome = "answered"
    prompt_tokens: int = 0  # what the language model read for it, as its server counted

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def bibtex(self) -> str:
        """The cited papers as BibTeX `@misc` entries, one per paper."""
        return bibtex(self.citations)

    def markdown(self) -> str:
        """The question, answer and references as a Markdown document."""
        return answer_markdown(self)
