"""The answer chain: validate, condense, retrieve, decide, generate (with verify), composed.

Each stage is a function or a small class in the module of its stage, and each returns a typed
value that extends the one it was given, as a LangGraph state would:

    Question (question.py) → Condensed (condense.py) → Retrieved (retrieve.py)
    → Decision (decide.py) → text pieces, then the `Answer` (generate.py, answer.py)

A question about the collection as a whole or its listing fields (scope.py) is answered from
every paper instead (overview.py), after condensing. This module only composes the stages into
one langchain-core runnable, and retries a short question that found nothing with the
conversation it may lean on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np
from langchain_core.runnables import Runnable, RunnableGenerator, RunnableLambda

from rag.answer import Answer
from rag.catalog import Catalog
from rag.compare import comparison_answer, matching_title
from rag.condense import REFERS_BACK, Condensed, condense, leaning
from rag.config import Settings
from rag.context import Source
from rag.decide import Decider, Decision
from rag.extractive import quotes
from rag.generate import Generator
from rag.keyword import KeywordIndex, tokenize
from rag.llm import LLMAnswerer
from rag.overview import CollectionAnswerer, collection_authors, days_of
from rag.question import Answerer, Message, Question, validate
from rag.relevance import key_terms
from rag.retrieve import Retrieved, retrieve, sources_of
from rag.scope import AuthorNames, CollectionDays, CollectionQuestion, aspect_of, scope
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
        self.catalog = Catalog(keyword, store)
        self.collection = CollectionAnswerer(self.catalog, self.topic_papers)
        self._names: tuple[tuple[str, int] | None, AuthorNames, CollectionDays] = (
            None,
            AuthorNames(()),
            CollectionDays(),
        )
        self.about_papers: Runnable[Condensed, str | Answer] = (
            RunnableLambda(self.retrieve, name="retrieve")
            | RunnableLambda(self.decide, name="decide")
            | RunnableLambda(self.reconsider, name="reconsider")
            | RunnableGenerator(self._generate, name="generate")
        )
        self.runnable: Runnable[Question, str | Answer] = RunnableLambda(
            self.condense, name="condense"
        ) | RunnableGenerator(self._answer, name="answer")

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

    def scope(self, asked: Condensed) -> CollectionQuestion | None:
        """The collection question this is (themes, listing fields, comparisons), or None."""
        version = (self.keyword.generation, self.keyword.paper_count)
        if self._names[0] != version:  # the authors and days, read once per version
            papers = self.catalog.papers()
            self._names = (version, AuthorNames(collection_authors(papers)), days_of(papers))
        _, names, days = self._names
        # its own words: a follow-up's condensed form holds the titles it may refer to
        scoped = scope(asked.question, names, days, self.known, self.has_papers)
        if scoped and asked.referred and REFERS_BACK.search(asked.question):
            scoped = replace(scoped, referred=tuple(asked.referred))
        return scoped

    def topic_papers(self, topic: str, filters: Filters | None) -> list[str]:
        """The ids of the papers on `topic`: those it names, else those a list of the papers on
        it holds (as many of the likeliest as maximise the expected F1)."""
        asked = self.validate(f"Which papers are about {topic}?", None, "extractive", filters)
        decided = self.decide(self.retrieve(self.condense(asked)))
        if decided.named:
            return [s.hit.paper_id for s in decided.named]
        if decided.outcome == "refused":
            return []
        return [s.hit.paper_id for s in decided.extractive]

    def compared(self, items: tuple[str, ...], filters: Filters | None) -> list[Source]:
        """The paper each item of a comparison names (by its title's name before a colon, else
        the best search hit when it holds most of the item's terms), once each; none when an
        item names no paper."""
        titles = self.titles()
        hits = []
        for item in items:
            title = matching_title(item, titles)
            found = self.searcher.search(title or item, 1, filters)
            if found and title is None:  # the best hit, when it holds most of the item's terms
                terms = key_terms(item)
                held = set(tokenize([f"{found[0].title} {found[0].text}"])[0])
                if sum(term in held for term in terms) * 2 < len(terms):
                    return []  # compares something that is no paper here: asked as it is
            if found and all(h.paper_id != found[0].paper_id for h in hits):
                hits.append(found[0])
        return sources_of(hits, self.store)

    def on_topic(self, topic: str, count: int, filters: Filters | None) -> list[Source]:
        """The `count` likeliest papers on `topic`, as sources to compare."""
        ids = self.topic_papers(topic, filters)[:count]
        found = {
            h.paper_id: h for h in self.searcher.search(topic, self.settings.search.pool, filters)
        }
        return sources_of([found[paper_id] for paper_id in ids if paper_id in found], self.store)

    def on_question(
        self, asked: Condensed, items: tuple[str, ...], compared: list[Source]
    ) -> dict[int, str]:
        """For a comparison that asks about something ("how do X and Y balance rewards?"), the
        sentence of each compared paper most likely to answer it (the sentence model); {} for
        a plain comparison."""
        if not aspect_of(asked.question, items, self.known):
            return {}
        scoring = self.decide.scoring(self.retrieve(asked), compared)
        ranked = quotes(asked.question, "compare", scoring, compared)
        best: dict[int, str] = {}
        for quote in ranked:  # best first
            best.setdefault(quote.source.number, quote.sentence.text)
        return best

    def has_papers(self, topic: str) -> bool:
        """Whether the collection has papers on the topic."""
        return bool(self.topic_papers(topic, None))

    def known(self, term: str) -> bool:
        """Whether the collection's papers use the (stemmed) term."""
        return self.keyword.paper_frequency(term) > 0

    def _answer(self, questions: Iterator[Condensed]) -> Iterator[str | Answer]:
        for asked in questions:
            scoped = self.scope(asked)
            if scoped is None:
                yield from self.about_papers.stream(asked)
                continue
            if scoped.kind == "compare":
                compared = (
                    self.compared(scoped.compared, asked.filters)
                    if scoped.compared
                    else self.on_topic(scoped.topic, scoped.compared_count, asked.filters)
                )
                if len(compared) < 2:  # not two papers by name: compared as asked
                    yield from self.about_papers.stream(asked)
                    continue
                on_question = self.on_question(asked, scoped.compared, compared)
                answer = comparison_answer(asked.question, compared, on_question)
            else:
                answer = self.collection(asked.question, scoped, asked.filters)
            answer.standalone_question = asked.standalone
            answer.timings = {**asked.timings, **answer.timings}
            answer.notices = asked.notices
            if asked.notices:
                answer.text = "".join(f"*{n}*\n\n" for n in asked.notices) + answer.text
            yield answer.text
            yield answer

    def _generate(self, decisions: Iterator[Decision]) -> Iterator[str | Answer]:
        for decided in decisions:
            yield from self.generate(decided)
