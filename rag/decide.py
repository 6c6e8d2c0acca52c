"""Stage 3, decide: which papers address the question, which of them the answer uses, who
writes it, and which named papers do not state what is asked."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rag.condense import REFERS_BACK
from rag.config import AnswerSettings, Settings
from rag.context import Source
from rag.extractive import ASKS_FINDING, ASKS_PROPOSAL, COUNT_QUESTION, named_papers, question_kind
from rag.keyword import KeywordIndex, tokenize
from rag.question import carried
from rag.relevance import Relevance, assess, found, key_terms, statement_support
from rag.retrieve import Retrieved
from rag.store import VectorStore

Writer = Literal["extractive", "llm", "per_paper"]
CENTROID_SAMPLE = 2000  # chunks averaged for the collection's centroid
# "Which <kind of thing> did/was ...": the kind of thing a question asks for.
ASKED_TYPE = re.compile(
    r"^\s*(?:which|what)\s+((?:[\w-]+\s+){0,3}?[\w-]+)\s+(?:did|does|do|was|were|is|are|has"
    r"|have|powers?|drives?|runs?)\b",
    re.IGNORECASE,
)
# "Which paper ...?" (singular) expects one paper.
SINGULAR_LIST = re.compile(
    r"^\s*(?:which|what|is there an?y?)\s+(?:paper|work|study|article)\b", re.I
)
# A paper this likely to address the question overrides the field test, and joins a
# singular list (on dev, no near miss's best paper reaches 0.6).
SURE = 0.8
CHECKED_PAPERS = 8  # the papers a model is asked about, one by one, for a list


@dataclass(kw_only=True)
class Decision(Retrieved):
    """A question with the papers its answer rests on, and who writes the answer."""

    named: list[Source]  # the papers the question names, or the follow-up refers to
    relevance: list[Relevance]  # each candidate's chance of addressing the question
    extractive: list[Source]  # the papers an offline answer uses, in the order it leads
    relevant: list[Source]  # the papers the writer uses (none: the answer abstains)
    unstated: list[Source]  # named papers whose abstract does not state what is asked
    writer: Writer  # the offline answerer, the LLM, or code from the LLM's verdicts
    question_vector: np.ndarray  # the embedding of the question's own words
    shown: list[Source]  # the sources shown: the top k, and every relevant one


def not_stated(
    question: str,
    vector: np.ndarray,
    source: Source,
    paper_frequency: Callable[[str], int],
    papers: int,
    settings: AnswerSettings,
    follow_up: bool = False,
) -> bool:
    """Whether a named paper's abstract does not state what the question asks. A sentence
    close in meaning (`stated_similarity`) states it. Otherwise it is not stated when the
    question asks "which X ..." and the abstract never mentions an X; when it asks how many
    or how much and no sentence with a number holds an asked term; or, for a question that
    is not a follow-up (whose own words say little), when no sentence holds enough of the
    asked terms nor comes near in meaning."""
    if ASKS_PROPOSAL.search(question) or ASKS_FINDING.search(question):
        return False  # what a paper proposes or finds is what its abstract is for
    support = statement_support(question, vector, source, paper_frequency, papers)
    if support.similarity >= settings.stated_similarity:
        return False
    asked_type = ASKED_TYPE.search(question)  # "which GPU cluster was ...": a cluster
    head = key_terms(asked_type.group(1))[-1:] if asked_type else []
    if head and not found(head[0], set(tokenize([f"{source.hit.title} {source.abstract}"])[0])):
        return True
    if COUNT_QUESTION.search(question) and support.number_share < settings.min_number_share:
        return True
    return (
        not follow_up
        and support.share < settings.min_stated
        and support.similarity < settings.min_stated_similarity
    )


class Decider:
    """Decides over one collection: its keyword index for term rarity, its chunk vectors for
    the field it covers."""

    def __init__(
        self,
        settings: Settings,
        keyword: KeywordIndex,
        store: VectorStore,
        embed: Callable[[str], np.ndarray],
    ) -> None:
        self.settings = settings
        self.keyword = keyword
        self.store = store
        self.embed = embed
        self._centroid: tuple[str | None, np.ndarray] = (None, np.zeros(0))

    def centroid(self) -> np.ndarray:
        """The unit mean of (a sample of) the collection's chunk vectors, divided by how
        close its own chunks come to it on average: a question's cosine with this is 1.0
        when it is as much about the collection's field as a typical chunk. Computed once per
        version of the collection."""
        generation = self.keyword.generation
        if self._centroid[0] != generation:
            ids = self.keyword.chunk_ids()
            if len(ids) > CENTROID_SAMPLE:
                ids = random.Random(0).sample(ids, CENTROID_SAMPLE)
            _, vectors = self.store.vectors(ids)
            centroid = np.zeros(0, np.float32)  # an empty collection has no sources to judge
            if len(vectors):
                mean = vectors.mean(axis=0)
                centroid = mean / (np.linalg.norm(mean) or 1.0)
                centroid /= float(np.mean(vectors @ centroid)) or 1.0
            self._centroid = (generation, centroid)
        return self._centroid[1]

    def writer(self, asked: Retrieved, listing: bool) -> Writer:
        """Who writes the answer: the offline answerer, the LLM, or (for a list, with
        PAPERCHAT_LLM_LISTS=per_paper) code from the LLM's verdict on each paper."""
        if not asked.use_llm:
            return "extractive"
        if listing and self.settings.llm.lists != "free":
            return self.settings.llm.lists
        return "llm"

    def __call__(self, asked: Retrieved) -> Decision:
        """Which papers address the question. Named papers always do."""
        candidates = asked.candidates
        frequency = self.keyword.paper_frequency
        named = named_papers(asked.question, candidates, frequency)
        # The papers a follow-up refers to, unless it names its own and does not point back:
        # "What is MEND?" after a question on another paper is about MEND alone.
        if not named or REFERS_BACK.search(asked.question):
            referred = [s for t in asked.referred for s in candidates if s.hit.title == t]
            named = referred + [s for s in named if s not in referred]
        if asked.rewritten:  # an LLM's rewrite names the papers it is about
            rewrite = named_papers(asked.standalone, candidates, frequency)
            named += [s for s in rewrite if s not in named]
        papers = self.keyword.paper_count
        relevance = assess(
            asked.query, asked.vector, candidates, frequency, papers, self.centroid()
        )
        settings = self.settings.answer
        listing = question_kind(asked.question) == "list"
        singular = bool(SINGULAR_LIST.match(asked.question))
        extractive = self.choose(
            relevance, named, settings.min_relevance, asked.k, listing, singular
        )
        writer = self.writer(asked, listing)
        relevant = extractive
        # With an LLM, only clearly irrelevant papers are dropped: the model reads the rest
        # and answers NO_ANSWER when they do not answer the question, or says which do.
        if writer != "extractive":
            most = CHECKED_PAPERS if writer == "per_paper" else asked.k
            relevant = self.choose(relevance, named, settings.llm_min_relevance, most, False)
        top = candidates[: asked.k]
        shown = top + [s for s in relevant if s not in top]
        question_vector = asked.vector
        follow_up = asked.standalone != asked.question
        if follow_up:
            question_vector = self.embed(asked.question)
        unstated = [
            s
            for s in named
            if not_stated(
                asked.question, question_vector, s, frequency, papers, settings, follow_up
            )
        ]
        return Decision(
            **carried(asked, Retrieved),
            named=named,
            relevance=relevance,
            extractive=extractive,
            relevant=relevant,
            unstated=unstated,
            writer=writer,
            question_vector=question_vector,
            shown=shown,
        )

    def choose(
        self,
        relevance: list[Relevance],
        named: list[Source],
        threshold: float,
        k: int,
        listing: bool,
        singular: bool = False,
    ) -> list[Source]:
        """The papers an answer uses, in the order it should lead with them: the named ones,
        then those likely enough to address the question (all of them for a list, else at
        most `k`). A question about another field than the collection's gets only the named,
        unless a paper addresses it surely all the same."""
        best = max((r.probability for r in relevance), default=0.0)
        if relevance and relevance[0].domain < self.settings.answer.min_domain and best < SURE:
            return named
        likely = sorted(
            (r for r in relevance if r.source not in named and r.probability >= threshold),
            key=lambda r: -r.probability,
        )
        if listing and likely:  # the papers after a list's first must come near it
            floor = max(threshold, likely[0].probability * self.settings.answer.list_ratio)
            if singular:  # "Which paper ...?" expects one: others only when sure
                floor = max(floor, SURE)
            likely = likely[:1] + [r for r in likely[1:] if r.probability >= floor]
        chosen = named + [r.source for r in likely]
        return chosen if listing or named else chosen[:k]
