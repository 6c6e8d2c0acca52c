"""The answer chain: validate, condense, retrieve, decide, generate (with verify), composed.

Each stage is a function or a small class in the module of its stage, and each returns a typed
value that extends the one it was given, as a LangGraph state would:

    Question (question.py) → Condensed (condense.py) → Retrieved (retrieve.py)
    → Decision (decide.py) → text pieces, then the `Answer` (generate.py, answer.py)

This module only composes them into one langchain-core runnable, and retries a short question
that found nothing with the conversation it may lean on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from langchain_core.runnables import Runnable, RunnableGenerator, RunnableLambda

from rag.answer import Answer
from rag.condense import Condensed, condense, leaning
from rag.config import Settings
from rag.decide import Decider, Decision
from rag.generate import Generator
from rag.keyword import KeywordIndex
from rag.llm import LLMAnswerer
from rag.question import Answerer, Message, Question, validate
from rag.relevance import key_terms
from rag.retrieve import Retrieved, retrieve
from rag.search import Filters, HybridSearch, Mode
from rag.store import VectorStore

ELLIPTICAL_TERMS = 3  # a question with more key terms than this is about a topic of its own


class AnswerChain:
    """The stages over one collection, and the runnable that chains them."""

    def __init__(
        self,
        settings: Settings,
        searcher: HybridSearch,
        store: VectorStore,
        keyword: KeywordIndex,
        embed: Callable[[str], np.ndarray],
        prompts: dict[str, str],
        llm: LLMAnswerer | None,
    ) -> None:
        self.settings = settings
        self.searcher = searcher
        self.store = store
        self.keyword = keyword
        self.embed = embed
        self.llm = llm
        self.decide = Decider(settings, keyword, store, embed)
        self.generate = Generator(settings, keyword, store, embed, prompts, llm)
        self.runnable: Runnable[Question, str | Answer] = (
            RunnableLambda(self.condense, name="condense")
            | RunnableLambda(self.retrieve, name="retrieve")
            | RunnableLambda(self.decide, name="decide")
            | RunnableLambda(self.reconsider, name="reconsider")
            | RunnableGenerator(self._generate, name="generate")
        )

    def stream(
        self,
        question: str,
        history: list[Message] | None = None,
        answerer: Answerer | None = None,
        filters: Filters | None = None,
        k: int | None = None,
        mode: Mode = "hybrid",
    ) -> Iterator[str | Answer]:
        """The answer's text in pieces, then the `Answer`; a QuestionError for a question that
        cannot be asked."""
        yield from self.runnable.stream(
            self.validate(question, history, answerer, filters, k, mode)
        )

    def prepare(self, question: str, history: list[Message] | None, answerer: Answerer) -> Decision:
        """The decision just before generation: sources, their relevance and what is used."""
        asked = self.validate(question, history, answerer)
        return self.reconsider(self.decide(self.retrieve(self.condense(asked))))

    def validate(
        self,
        question: str,
        history: list[Message] | None,
        answerer: Answerer | None,
        filters: Filters | None = None,
        k: int | None = None,
        mode: Mode = "hybrid",
    ) -> Question:
        answerer = answerer or self.settings.llm.answerer
        return validate(
            question, history, answerer, self.llm is not None, self.settings, filters, k, mode
        )

    def titles(self) -> list[str]:
        return [paper.title for paper in self.keyword.papers()]

    def condense(self, asked: Question) -> Condensed:
        return condense(asked, self.titles, self.keyword.paper_frequency, self.llm)

    def retrieve(self, asked: Condensed) -> Retrieved:
        return retrieve(asked, self.searcher, self.store, self.embed, self.settings.search.pool)

    def reconsider(self, decided: Decision) -> Decision:
        """A short question asked after others that found nothing on its own ("What datasets
        were used?") is tried once more with the previous turn's subject; the retry stands
        when it finds what the question alone did not."""
        question = decided.question
        if decided.outcome != "refused" or not decided.history or decided.standalone != question:
            return decided
        if decided.intent == "list" or len(key_terms(question)) > ELLIPTICAL_TERMS:
            return decided  # a question of its own: "Which papers study lidar perception?"
        retried = self.decide(self.retrieve(leaning(decided, self.titles())))
        return retried if retried.outcome != "refused" else decided

    def _generate(self, decisions: Iterator[Decision]) -> Iterator[str | Answer]:
        for decided in decisions:
            yield from self.generate(decided)
