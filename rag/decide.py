"""Stage 3, decide: which papers address the question, whether the answer answers, offers the
closest paper or refuses, who writes it, and which named papers do not state what is asked.

Three learned models (rag/models/, trained by eval/train_models.py) decide: the relevance
model gives each candidate's chance of addressing the question (rag/relevance.py); the
outcome model, from those chances and the question's own evidence, whether the collection
answers it, holds only a close neighbour (a near miss, a question in other words), or holds
nothing on it; the stated model whether a named paper's abstract states what is asked.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rag import learned
from rag.answer import Outcome
from rag.condense import REFERS_BACK
from rag.config import Settings
from rag.context import Source
from rag.extractive import Quote, Scoring, named_papers, quotes
from rag.intent import Intent, intent_features
from rag.keyword import KeywordIndex, tokenize
from rag.question import carried
from rag.relevance import (
    Relevance,
    asked_terms,
    assess,
    found,
    key_terms,
    rarity_weights,
    statement_support,
    unnamed,
)
from rag.retrieve import Retrieved
from rag.store import VectorStore

Writer = Literal["extractive", "llm", "per_paper"]
CENTROID_SAMPLE = 2000  # chunks averaged for the collection's centroid
# "Which <kind of thing> did/was ...", "how many <things>": the kind of thing asked for.
ASKED_TYPE = re.compile(
    r"\b(?:which|what)\s+(?:kind of |type of |sort of )?((?:[\w-]+\s+){0,3}?[\w-]+)\s+"
    r"(?:did|does|do|was|were|is|are|has|have|powers?|drives?|runs?)\b"
    r"|\bhow many\s+((?:[\w-]+\s+){0,2}?[\w-]+)\b",
    re.IGNORECASE,
)
CHECKED_PAPERS = 8  # the papers a model is asked about, one by one, for a list
LIKELY = 0.5  # a paper more likely than not to address the question is used
CLOSEST_LISTED = 3  # the papers a list's closest match names at most
# A model reads the papers at least this likely, and the best few whatever their chance:
# it tells better than the relevance model whether they answer (or says NO_ANSWER), unless
# the outcome model is this sure that nothing in the collection does.
LLM_READS = 3
SURELY_REFUSED = 0.9
# What the closest match is worth, beside a right answer or a right refusal (1) and a wrong
# one (0): it names the nearest paper and quotes it, but does not claim that it answers.
HEDGE = 0.5
# What a question asks of a named paper that its abstract may not state; what it proposes,
# what it is about, or how it compares is what an abstract is for.
MAY_BE_UNSTATED = ("mechanism", "result", "quantity", "detail")
ABSTRACT_STATES = ("define", "summary")


@dataclass(kw_only=True)
class Decision(Retrieved):
    """A question with the papers its answer rests on, and who writes the answer."""

    named: list[Source]  # the papers the question names, or the follow-up refers to
    relevance: list[Relevance]  # each candidate's chance of addressing the question
    outcome: Outcome  # answered, closest or refused (not_stated is the answer's to find)
    extractive: list[Source]  # the papers an offline answer uses, in the order it leads
    relevant: list[Source]  # the papers the writer uses (none: the answer refuses)
    unstated: list[Source]  # papers asked about whose abstract does not state what is asked
    writer: Writer  # the offline answerer, the LLM, or code from the LLM's verdicts
    scoring: Scoring  # what the answer's sentences are scored against
    shown: list[Source]  # the sources shown: the top k, and every relevant one


def outcome_features(
    relevance: list[Relevance], named: list[Source], intent: Intent
) -> dict[str, float]:
    """The outcome model's evidence: how likely the best papers are, how close the best
    sentence comes, what the likeliest paper lacks of the question, what no paper holds, how
    far the question is from the field, and what it asks for."""
    ranked = sorted(relevance, key=lambda r: -r.probability)
    best = ranked[0].features if ranked else {}

    def gap(signal: str) -> float:
        """How far the best candidate stands out from the second on `signal`: a question in
        other words than its paper's still finds that paper well ahead of the rest."""
        values = [*sorted((r.features[signal] for r in relevance), reverse=True), 0.0, 0.0]
        return values[0] - values[1]

    return {
        "top": ranked[0].probability if ranked else 0.0,
        "second": ranked[1].probability if len(ranked) > 1 else 0.0,
        # a topic the collection covers has several likely papers; a near miss one close one
        "likely": min(sum(r.probability >= LIKELY for r in relevance), 5) / 5,
        "sentence": max((r.features["sentence"] for r in relevance), default=0.0),
        "sentence_gap": gap("sentence"),
        "chunk_gap": gap("chunk"),
        "fusion_top": max((r.features["fusion"] for r in relevance), default=0.0),
        "coverage": best.get("coverage", 0.0),
        "lacking_rarest": best.get("lacking_rarest", 0.0),
        "near_miss": best.get("near_miss", 0.0),
        "unknown": best.get("unknown", 1.0),
        "domain": best.get("domain", 0.0),
        "named": float(bool(named)),
        **intent_features(intent),
    }


def about(
    named: list[Source], extractive: list[Source], outcome: Outcome, listing: bool
) -> list[Source]:
    """The papers an answer is about, whose abstracts may not state what is asked: the named
    ones, or the one an answer from a single paper rests on."""
    if named or listing or outcome != "answered":
        return named
    return extractive[:1]


def outcome_chances(
    relevance: list[Relevance], named: list[Source], intent: Intent
) -> dict[str, float]:
    """The outcome model's chance of each of answered, closest and refused."""
    outcome = learned.model("outcome")
    row = outcome_features(relevance, named, intent)
    return dict(zip(outcome.classes, map(float, outcome.probabilities([row])[0]), strict=True))


def worth_most(chances: dict[str, float], named: bool, intent: Intent) -> Outcome:
    """Of answered, closest and refused, the one worth most given their chances, where the
    closest match, a hedge that shows the paper without claiming it answers, is worth
    `HEDGE` of a right answer or refusal. A question that names a paper is never refused: at
    worst the named paper is the closest ("Does RPO work for text-to-image models?" of a
    paper on language models). What a named paper is or proposes is what its abstract is
    for: such a question is answered ("fait tldr pls")."""
    if named and intent in ABSTRACT_STATES:
        return "answered"
    worth = {
        "answered": chances["answered"],
        "refused": chances["refused"],
        "closest": chances["closest"] + HEDGE * (chances["answered"] + chances["refused"]),
    }
    decided = max(worth, key=worth.__getitem__)
    return "closest" if named and decided == "refused" else decided  # type: ignore[return-value]


def stated_features(
    question: str,
    intent: Intent,
    vector: np.ndarray,
    source: Source,
    ranked: list[Quote],
    paper_frequency: Callable[[str], int],
    papers: int,
    follow_up: bool,
) -> dict[str, float]:
    """The stated model's evidence that a named paper's abstract does not state what the
    question asks: how likely its best sentence is to answer, how close it comes in meaning,
    the largest share of the asked terms one sentence holds (one with a number, for a
    quantity), whether the abstract names the kind of thing asked for ("which GPU ..."), and
    what the question asks."""
    support = statement_support(question, vector, source, paper_frequency, papers)
    asked_type = ASKED_TYPE.search(question)  # "which GPU cluster was ...": a cluster
    kind = (asked_type.group(1) or asked_type.group(2)) if asked_type else ""
    head = key_terms(kind)[-1:]
    words = set(tokenize([f"{source.hit.title} {source.abstract}"])[0])
    return {
        "best": max((q.chance for q in ranked if q.source is source), default=0.0),
        "similarity": support.similarity,
        "share": support.share,
        "number_share": support.number_share,
        "quantity_number_share": support.number_share * (intent == "quantity"),
        "abstract_share": support.abstract_share,
        "missing_rarest": support.missing_rarest,
        "names_missing": support.names_missing,
        "head_missing": float(bool(head) and not found(head[0], words)),
        "follow_up": float(follow_up),
        **intent_features(intent),
    }


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

    def named(self, asked: Retrieved) -> list[Source]:
        """The papers the question names, or those a follow-up refers to unless it names its
        own and does not point back ("What is MEND?" after a question on another paper)."""
        candidates = asked.candidates
        listing = asked.intent == "list"
        named = named_papers(asked.question, candidates, self.keyword.paper_frequency, listing)
        if not named or REFERS_BACK.search(asked.question):
            referred = [s for t in asked.referred for s in candidates if s.hit.title == t]
            named = referred + [s for s in named if s not in referred]
        if asked.rewritten:  # an LLM's rewrite names the papers it is about
            rewrite = named_papers(
                asked.standalone, candidates, self.keyword.paper_frequency, listing
            )
            named += [s for s in rewrite if s not in named]
        return named

    def relevance(self, asked: Retrieved, named: list[Source]) -> list[Relevance]:
        """Each candidate's chance of addressing the question."""
        frequency, papers = self.keyword.paper_frequency, self.keyword.paper_count
        return assess(
            asked.query, asked.vector, asked.candidates, named, frequency, papers, self.centroid()
        )

    def __call__(self, asked: Retrieved) -> Decision:
        """Which papers address the question, and what the answer does. Named papers always
        address it."""
        started = time.perf_counter()
        named = self.named(asked)
        relevance = self.relevance(asked, named)
        chances = outcome_chances(relevance, named, asked.intent)
        outcome = worth_most(chances, bool(named), asked.intent)
        listing = asked.intent == "list"
        extractive = self.choose(relevance, named, outcome, listing, asked.k)
        writer = self.writer(asked, listing)
        relevant = extractive
        if writer != "extractive":
            relevant = self.for_model(relevance, named, chances["refused"], writer, asked.k)
        top = asked.candidates[: asked.k]
        shown = top + [s for s in relevant if s not in top]
        scoring = self.scoring(asked, named)
        stated = learned.model("stated")
        unstated = [
            source
            for source, features in self.stated_evidence(
                asked, about(named, extractive, outcome, listing), scoring
            )
            if stated.probability(features) >= LIKELY
        ]
        asked.timings["decide"] = time.perf_counter() - started
        return Decision(
            **carried(asked, Retrieved),
            named=named,
            relevance=relevance,
            outcome=outcome,
            extractive=extractive,
            relevant=relevant,
            unstated=unstated,
            writer=writer,
            scoring=scoring,
            shown=shown,
        )

    def scoring(self, asked: Retrieved, named: list[Source]) -> Scoring:
        """What the answer's sentences are scored against: the embedding of the question's
        own words (a follow-up's referents were found through the condensed question), that
        of its words without the named papers' names (which say nothing about which of their
        sentences answers), and its asked terms by rarity."""
        follow_up = asked.standalone != asked.question
        vector = self.embed(asked.question) if follow_up else asked.vector
        asking = unnamed(asked.question, named)
        asked_vector = self.embed(asking) if asking != asked.question else vector
        query = asked.question if follow_up else asked.query
        terms = asked_terms(query, named) or key_terms(query) or tokenize([query])[0]
        weights = rarity_weights(terms, self.keyword.paper_frequency, self.keyword.paper_count)
        return Scoring(vector, asked_vector, weights)

    def stated_evidence(
        self, asked: Retrieved, papers: list[Source], scoring: Scoring
    ) -> list[tuple[Source, dict[str, float]]]:
        """The stated model's evidence for each of `papers`, when the question asks what an
        abstract may not state (how it works, a result, a number, a detail)."""
        if not papers or asked.intent not in MAY_BE_UNSTATED:
            return []
        ranked = quotes(asked.question, asked.intent, scoring, papers)
        follow_up = asked.standalone != asked.question
        frequency, count = self.keyword.paper_frequency, self.keyword.paper_count
        return [
            (
                source,
                stated_features(
                    asked.question,
                    asked.intent,
                    scoring.vector,
                    source,
                    ranked,
                    frequency,
                    count,
                    follow_up,
                ),
            )
            for source in papers
        ]

    @staticmethod
    def choose(
        relevance: list[Relevance], named: list[Source], outcome: Outcome, listing: bool, k: int
    ) -> list[Source]:
        """The papers an offline answer uses, in the order it leads with them: the named ones,
        then, for a list, as many of the likeliest as maximise the expected F1 of the list;
        otherwise those likely to address the question (at most `k`, and the likeliest even
        when none is likely). The closest match: the named paper or the likeliest, or for a
        list the likeliest few (`CLOSEST_LISTED` at most). None for a refusal."""
        ranked = sorted(
            (r for r in relevance if r.source not in named), key=lambda r: -r.probability
        )
        chances = [r.probability for r in ranked]
        if outcome == "closest":
            if named or not listing:
                return (named or [r.source for r in ranked])[:1]
            return [r.source for r in ranked[: learned.best_cut(chances, CLOSEST_LISTED)]]
        likely = [r.source for r in ranked if r.probability >= LIKELY]
        if named:
            return named + (likely if listing else [])
        if outcome == "refused" or not ranked:
            return []
        if listing:
            return [r.source for r in ranked[: learned.best_cut(chances, len(ranked))]]
        return (likely or [ranked[0].source])[:k]

    @staticmethod
    def for_model(
        relevance: list[Relevance], named: list[Source], refused: float, writer: Writer, k: int
    ) -> list[Source]:
        """The papers a language model reads: the named ones, then the likeliest, at least
        `LLM_READS` of them, unless the outcome model is `SURELY_REFUSED` that the collection
        holds nothing on the question: a question in other words than the papers' reaches
        the model with its best papers even when the offline answer would refuse it."""
        if refused >= SURELY_REFUSED and not named:
            return []
        most = CHECKED_PAPERS if writer == "per_paper" else k
        ranked = sorted(
            (r for r in relevance if r.source not in named), key=lambda r: -r.probability
        )
        likely = [
            r.source for i, r in enumerate(ranked) if i < LLM_READS or r.probability >= LIKELY
        ]
        return (named + likely)[: max(most, len(named))]
