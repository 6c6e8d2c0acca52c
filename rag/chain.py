"""The retrieval chain: condense, retrieve, decide, build context, generate, verify.

Each stage is a langchain-core runnable over one state dict; the last streams text pieces and
then the finished `Answer`. Citations are checked as they stream (rag/cite.py).
"""

from __future__ import annotations

import logging
import random
import re
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import tiktoken
from langchain_core.runnables import Runnable, RunnableGenerator, RunnableLambda

from rag.attribute import Attributor, Claim, attribution_notice
from rag.cite import CITATION, CitationFilter
from rag.condense import (
    REFERS_BACK,
    condense_offline,
    format_history,
    is_follow_up,
    referents,
    validate_history,
)
from rag.config import AnswerSettings, Settings
from rag.context import Source, number_sources, render_context
from rag.extractive import (
    ASKS_FINDING,
    ASKS_PROPOSAL,
    COUNT_QUESTION,
    as_quoted,
    extractive_answer,
    named_papers,
    question_kind,
    quotes,
    search_query,
    topic_of,
)
from rag.keyword import KeywordIndex, tokenize
from rag.llm import NO_ANSWER, LLMAnswerer, LLMError
from rag.load import Listing
from rag.relevance import (
    Relevance,
    asked_terms,
    assess,
    found,
    key_terms,
    rarity_weights,
    statement_support,
)
from rag.search import Filters, Hit, HybridSearch, Mode, content_hash_of
from rag.split import ENCODING, split_sentences
from rag.store import VectorStore

log = logging.getLogger(__name__)
Answerer = Literal["auto", "extractive", "llm"]
EXTRACTIVE = "extractive"
ABSTAIN = object()  # what the LLM's stream yields when the model answers NO_ANSWER
CENTROID_SAMPLE = 2000  # chunks averaged for the collection's centroid
# "Which <kind of thing> did/was ...": the kind of thing a question asks for.
ASKED_TYPE = re.compile(
    r"^\s*(?:which|what)\s+((?:[\w-]+\s+){0,3}?[\w-]+)\s+(?:did|does|do|was|were|is|are|has"
    r"|have|powers?|drives?|runs?)\b",
    re.IGNORECASE,
)
ELLIPTICAL_TERMS = 3  # a question with more key terms than this is about a topic of its own
# "Which paper ...?" (singular) expects one paper.
SINGULAR_LIST = re.compile(
    r"^\s*(?:which|what|is there an?y?)\s+(?:paper|work|study|article)\b", re.I
)
# A paper this likely to address the question overrides the field test, and joins a
# singular list (on dev, no near miss's best paper reaches 0.6).
SURE = 0.8
CHECKED_PAPERS = 8  # the papers a model is asked about, one by one, for a list
TOKENIZER_SLACK = 1.2  # a model's tokenizer may count a text this much longer than cl100k_base
NOTHING_SUPPORTED = "No sentence of {model}'s answer is supported by its sources."
LIST_BY_CODE = (
    "This list was built from the relevance model, not by the language model"
    " (PAPERCHAT_LLM_LISTS=extractive; per_paper or free let the model decide)."
)


# Terminal escape sequences, then control characters and U+FFFD (what undecodable bytes become).
CONTROL_CHARACTERS = re.compile(
    r"\x1b\[[0-9;]*[A-Za-z]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]"
)


ENGLISH_ONLY = (
    "PaperChat's models are English-only: a question in another script is likely to find"
    " nothing; try asking in English."
)


def mostly_non_latin(text: str) -> bool:
    """Whether most letters of `text` are of another script than Latin (Chinese, Cyrillic…)."""
    letters = [c for c in text if c.isalpha()]
    latin = sum(unicodedata.name(c, "").startswith("LATIN") for c in letters)
    return latin * 2 < len(letters)


def clean_question(raw: str) -> str:
    """A question without control characters, its whitespace squashed."""
    return " ".join(CONTROL_CHARACTERS.sub("", raw).split())


class QuestionError(ValueError):
    """A question that cannot be asked as it is (empty, say)."""


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
    abstained: bool
    answerer: str  # "extractive" or the LLM's model name
    timings: dict[str, float]
    standalone_question: str = ""
    notices: list[str] = field(default_factory=list)
    fell_back: bool = False  # the LLM failed, or wrote nothing supported: extractive stood in
    sources: list[Hit] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)  # an LLM answer's sentences, checked

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def bibtex(self) -> str:
        """The cited papers as BibTeX `@misc` entries, one per paper."""
        from rag.export import bibtex

        return bibtex(self.citations)

    def markdown(self) -> str:
        """The question, answer and references as a Markdown document."""
        from rag.export import answer_markdown

        return answer_markdown(self)


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


class AnswerChain:
    """Builds the runnable chain over PaperChat's parts."""

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
        self.prompts = prompts
        self.llm = llm
        self._centroid: tuple[str | None, np.ndarray] = (None, np.zeros(0))
        self.runnable: Runnable = (
            RunnableLambda(self.validate, name="validate")
            | RunnableLambda(self.condense, name="condense")
            | RunnableLambda(self.retrieve, name="retrieve")
            | RunnableLambda(self.decide, name="decide")
            | RunnableLambda(self.reconsider, name="reconsider")
            | RunnableGenerator(self.generate, name="generate")
        )

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

    def stream(
        self,
        question: str,
        history: list[dict] | None = None,
        answerer: Answerer | None = None,
        filters: Filters | None = None,
        k: int | None = None,
        mode: Mode = "hybrid",
    ) -> Iterator[str | Answer]:
        state = {
            "mode": mode,
            "question": question,
            "history": history,
            "answerer": answerer or self.settings.llm.answerer,
            "filters": filters,
            "k": k,
        }
        yield from self.runnable.stream(state)

    def use_llm(self, state: dict) -> bool:
        if state["answerer"] == "llm" and self.llm is None:
            raise QuestionError(
                "no language model is configured: set OPENAI_API_KEY or OPENAI_BASE_URL"
            )
        return self.llm is not None and state["answerer"] in ("llm", "auto")

    def writer(self, state: dict, listing: bool) -> Literal["extractive", "llm", "per_paper"]:
        """Who writes the answer: the offline answerer, the LLM, or (for a list, with
        PAPERCHAT_LLM_LISTS=per_paper) code from the LLM's verdict on each paper."""
        if not self.use_llm(state):
            return EXTRACTIVE
        if listing and self.settings.llm.lists != "free":
            return self.settings.llm.lists
        return "llm"

    def prepare(self, question: str, history: list[dict] | None, answerer: Answerer) -> dict:
        """The state just before generation: sources, their relevance and what is used."""
        state = {"mode": "hybrid", "question": question, "history": history}
        state |= {"answerer": answerer, "filters": None, "k": None}
        return self.reconsider(self.decide(self.retrieve(self.condense(self.validate(state)))))

    # Stage 0: the question itself.
    def validate(self, state: dict) -> dict:
        raw = str(state["question"] or "")
        if not raw.strip():
            raise QuestionError("the question is empty: ask something about the papers")
        question = clean_question(raw)
        if not any(c.isalnum() for c in question):
            raise QuestionError("the question has no words in it: ask something about the papers")
        notices = []
        limit = self.settings.answer.max_question_chars
        if len(question) > limit:
            notices.append(
                f"Your question was {len(question):,} characters long; only the first "
                f"{limit:,} were used."
            )
            question = question[:limit]
        if mostly_non_latin(question):
            notices.append(ENGLISH_ONLY)
        history = validate_history(state["history"])
        self.use_llm(state)  # fail early when an absent LLM is asked for
        k = state.get("k") or self.settings.answer.sources
        return {
            **state,
            "question": question,
            "history": history,
            "notices": notices,
            "timings": {},
            "k": k,
        }

    # Stage 1: a follow-up becomes a standalone question, and the papers it refers to known.
    def condense(self, state: dict) -> dict:
        started = time.perf_counter()
        question, history = state["question"], state["history"]
        standalone, referred, rewritten = question, [], False
        if is_follow_up(question, history):
            titles = [paper.title for paper in self.keyword.papers()]
            referred = referents(question, history, titles)
            standalone = condense_offline(question, history, titles)
            if self.use_llm(state):
                try:
                    standalone = self.llm.condense(question, format_history(history))
                    rewritten = True
                except LLMError as exc:
                    state["notices"].append(f"Could not rewrite the follow-up with the LLM: {exc}.")
        state["timings"]["condense"] = time.perf_counter() - started
        return {**state, "standalone": standalone, "referred": referred, "rewritten": rewritten}

    # Stage 2: retrieve the papers: more than are shown, for lists and relevance to pick from.
    def retrieve(self, state: dict) -> dict:
        started = time.perf_counter()
        query = search_query(state["standalone"])
        vector = self.embed(query)
        depth = max(state["k"], self.settings.search.pool)
        hits = self.searcher.search(
            query, depth, state["filters"], state.get("mode", "hybrid"), vector
        )
        for title in state["referred"]:  # a paper a follow-up refers to is always a candidate
            if all(h.title != title for h in hits):
                hits += [
                    h for h in self.searcher.search(title, 1, state["filters"]) if h.title == title
                ]
        versions = {h.paper_id: content_hash_of(h.chunk_id) for h in hits}
        sources = number_sources(hits, self.store.sentences(versions))
        state["timings"]["retrieve"] = time.perf_counter() - started
        return {**state, "query": query, "vector": vector, "sources": sources}

    # Stage 3: which papers address the question? Named papers always do.
    def decide(self, state: dict) -> dict:
        candidates = state["sources"]
        frequency = self.keyword.paper_frequency
        named = named_papers(state["question"], candidates, frequency)
        # The papers a follow-up refers to, unless it names its own and does not point back:
        # "What is MEND?" after a question on another paper is about MEND alone.
        if not named or REFERS_BACK.search(state["question"]):
            referred = [s for t in state["referred"] for s in candidates if s.hit.title == t]
            named = referred + [s for s in named if s not in referred]
        if state["rewritten"]:  # an LLM's rewrite names the papers it is about
            rewrite = named_papers(state["standalone"], candidates, frequency)
            named += [s for s in rewrite if s not in named]
        papers = self.keyword.paper_count
        relevance = assess(
            state["query"], state["vector"], candidates, frequency, papers, self.centroid()
        )
        answer = self.settings.answer
        listing = question_kind(state["question"]) == "list"
        singular = bool(SINGULAR_LIST.match(state["question"]))
        extractive = self.relevant(
            relevance, named, answer.min_relevance, state["k"], listing, singular
        )
        writer = self.writer(state, listing)
        relevant = extractive
        # With an LLM, only clearly irrelevant papers are dropped: the model reads the rest
        # and answers NO_ANSWER when they do not answer the question, or says which do.
        if writer != EXTRACTIVE:
            most = CHECKED_PAPERS if writer == "per_paper" else state["k"]
            relevant = self.relevant(relevance, named, answer.llm_min_relevance, most, False)
        shown = candidates[: state["k"]] + [
            s for s in relevant if s not in candidates[: state["k"]]
        ]
        asked = state["vector"]
        follow_up = state["standalone"] != state["question"]
        if follow_up:
            asked = self.embed(state["question"])
        unstated = [
            s
            for s in named
            if not_stated(state["question"], asked, s, frequency, papers, answer, follow_up)
        ]
        return {
            **state,
            "candidates": candidates,
            "sources": shown,
            "named": named,
            "relevance": relevance,
            "relevant": relevant,
            "extractive": extractive,
            "unstated": unstated,
            "writer": writer,
            "question_vector": asked,
        }

    # Stage 3b: a question that found nothing alone may lean on the conversation unsaid.
    def reconsider(self, state: dict) -> dict:
        """A short question asked after others that found nothing on its own ("What datasets
        were used?") is tried once more with the previous turn's subject; the retry stands
        when it finds what the question alone did not."""
        question, history = state["question"], state["history"]
        if state["relevant"] or not history or state["standalone"] != question:
            return state
        if question_kind(question) == "list" or len(key_terms(question)) > ELLIPTICAL_TERMS:
            return state  # a question of its own: "Which papers study lidar perception?"
        titles = [paper.title for paper in self.keyword.papers()]
        leaning = {
            **state,
            "standalone": condense_offline(question, history, titles, leaning=True),
            "referred": referents(question, history, titles, leaning=True),
        }
        retried = self.decide(self.retrieve(leaning))
        return retried if retried["relevant"] else state

    def relevant(
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

    # Stages 4-6: context, generation, verification; streams text, then the Answer.
    def generate(self, states: Iterator[dict]) -> Iterator[str | Answer]:
        for state in states:
            yield from self._generate(state)

    def _generate(self, state: dict) -> Iterator[str | Answer]:
        started = time.perf_counter()
        use_llm = state["writer"] == "llm"
        answer = Answer(
            question=state["question"],
            text="",
            citations=[],
            abstained=False,
            answerer=EXTRACTIVE if state["writer"] == EXTRACTIVE else self.llm.name,
            timings=state["timings"],
            standalone_question=state["standalone"],
            notices=state["notices"],
            sources=[s.hit for s in state["sources"]],
        )
        for notice in answer.notices:
            yield f"*{notice}*\n\n"
            answer.text += f"*{notice}*\n\n"
        if not state["relevant"]:
            yield from self._abstain(state, answer)
            answer.timings["generate"] = time.perf_counter() - started
            answer.timings["verify"] = 0.0  # nothing cited, nothing to check
            yield answer
            return

        sources: list[Source] = state["sources"] if use_llm else state["relevant"]
        budget = self.settings.answer.context_tokens
        if use_llm:
            budget = min(budget, self._room_for_sources(state["standalone"]))
        context, used = render_context(sources, budget)
        if use_llm and not used:
            window = self.settings.llm.context
            reason = f"No source fits the language model's context window ({window:,} tokens)."
            notice = self._fall_back(answer, reason)
            answer.text += notice
            yield notice
            use_llm = False
            context, used = render_context(state["relevant"], self.settings.answer.context_tokens)
        elif use_llm and len(used) < len(sources):
            notice = (
                f"Only {len(used)} of the {len(sources)} candidate papers fit the language"
                f" model's context window ({self.settings.llm.context:,} tokens)."
            )
            answer.notices.append(notice)
            answer.text += f"*{notice}*\n\n"
            yield f"*{notice}*\n\n"
        state["used"] = used
        citations = CitationFilter({s.number for s in used})
        if state["writer"] == EXTRACTIVE and self.use_llm(state):  # a list, by the setting
            answer.notices.append(LIST_BY_CODE)
        if use_llm:
            pieces = self._llm_pieces(state, context, answer)
        elif state["writer"] == "per_paper":
            pieces = self._checked_list(state, answer)
        else:
            pieces = iter([self._extractive(state, used, answer)])
        for piece in pieces:
            if piece is ABSTAIN:
                yield from self._abstain(state, answer)
                break
            shown = citations.feed(piece)
            if shown:
                answer.text += shown
                yield shown
        tail = citations.finish()
        answer.text += tail
        if tail:
            yield tail
        answer.timings["generate"] = time.perf_counter() - started

        started = time.perf_counter()
        if citations.numbers:  # a "not stated" answer cites the paper it looked in
            chances = {r.source.number: r.probability for r in state["relevance"]}
            answer.citations = self._citations(
                answer.text, citations, used, state["vector"], chances
            )
            if citations.dropped:
                answer.notices.append(
                    f"Removed {len(citations.dropped)} citation(s) to sources that do not exist."
                )
        for claim in answer.claims:  # as numbered in the answer
            claim.cited = [citations.numbers[n] for n in claim.cited if n in citations.numbers]
            claim.source = citations.numbers.get(claim.source) if claim.source else None
        answer.timings["verify"] = time.perf_counter() - started
        yield answer

    def _extractive(self, state: dict, used: list[Source], answer: Answer) -> str:
        """Sentences are scored against what was asked: for a follow-up, its own words (the
        papers it refers to were already found through the condensed question). An answer
        that the abstract does not state the fact counts as an abstention."""
        relevant = [s for s in state["extractive"] if s in used] or used[:1]
        query, vector = state["query"], state["vector"]
        if state["standalone"] != state["question"]:
            query, vector = state["question"], state["question_vector"]
        # A named paper's own name says nothing about which of its sentences answers.
        terms = asked_terms(query, state["named"]) or key_terms(query) or tokenize([query])[0]
        weights = self.rarity(terms)
        draft = extractive_answer(
            state["question"], query, vector, relevant, state["named"], state["unstated"], weights
        )
        answer.abstained = draft.not_stated
        return draft.text

    def _room_for_sources(self, question: str) -> int:
        """The tokens the sources may take in the model's window, beside the prompt and the
        answer (counted with cl100k_base, with room for a tokenizer that counts more)."""
        llm = self.settings.llm
        prompt = len(tiktoken.get_encoding(ENCODING).encode(self.llm.bare_prompt(question)))
        return int((llm.context - llm.max_tokens) / TOKENIZER_SLACK) - prompt

    def _fall_back(self, answer: Answer, reason: str, after_text: bool = False) -> str:
        """Mark the answer as the offline one, and the notice that says why, to show."""
        answer.fell_back = True
        answer.answerer = EXTRACTIVE
        notice = f"{reason} This is the offline answer."
        answer.notices.append(notice)
        return f"\n\n*{notice}*\n\n" if after_text else f"*{notice}*\n\n"

    def _llm_pieces(self, state: dict, context: str, answer: Answer) -> Iterator[str | object]:
        """The LLM's answer, each claim checked against the sources as it streams (see
        rag/attribute.py); ABSTAIN if it says NO_ANSWER. When the model fails or none of its
        claims is supported, the extractive answer follows with a notice why."""
        attributor = Attributor(state["used"], self.embed, self.rarity)
        outcome: dict[str, Any] = {}
        text = self._model_text(state, context, outcome)
        try:
            for piece in text:
                if piece is ABSTAIN:
                    yield ABSTAIN
                    return
                yield attributor.feed(piece)
                if attributor.looping:
                    text.close()  # stops the request, and the model with it
                    outcome["finish_reason"] = "loop"
                    break
        except LLMError as exc:
            log.info("LLM failed, using the extractive answer: %s", exc)
            reason = f"The language model failed: {exc}."
        else:
            reason = ""
        cut = bool(reason) or outcome.get("finish_reason") in ("loop", "length")
        yield attributor.finish(complete=not cut)  # a sentence cut off is not shown
        answer.claims = attributor.claims
        if outcome.get("finish_reason") == "length":
            answer.notices.append(
                f"The model's answer was cut off at {self.settings.llm.max_tokens} tokens"
                " (PAPERCHAT_LLM_MAX_TOKENS)."
            )
        elif outcome.get("finish_reason") == "loop":
            answer.notices.append("The model kept repeating itself and was stopped.")
        if notice := attribution_notice(attributor.claims):
            answer.notices.append(notice)
        if not attributor.supported:
            reason = reason or NOTHING_SUPPORTED.format(model=self.llm.name)
        if not reason:
            return
        yield self._fall_back(answer, reason, bool(attributor.supported))
        if not state["extractive"]:  # offline, no paper addresses the question
            yield ABSTAIN
            return
        yield self._extractive(state, state["used"], answer)

    def _checked_list(self, state: dict, answer: Answer) -> Iterator[str | object]:
        """A list of the papers the model says address the question, one verdict per paper,
        each quoted and cited by code. ABSTAIN when it says no to every one."""
        chosen = []
        for source in state["used"]:
            try:
                if self.llm.addresses(state["standalone"], source.hit.title, source.abstract):
                    chosen.append(source)
            except LLMError as exc:
                yield self._fall_back(answer, f"The language model failed: {exc}.")
                chosen = [s for s in state["extractive"] if s in state["used"]]
                break
        if not chosen:
            yield ABSTAIN
            return
        yield self._extractive({**state, "extractive": chosen}, chosen, answer)

    def _model_text(self, state: dict, context: str, outcome: dict) -> Iterator[str | object]:
        """The model's text as it streams, or ABSTAIN when it is NO_ANSWER."""
        head = ""
        pieces = self.llm.stream(state["standalone"], context, outcome)
        for piece in pieces:
            head += piece  # hold the start back while it may still be NO_ANSWER
            if NO_ANSWER.startswith(head.strip()):
                continue
            if head.strip().startswith(NO_ANSWER):
                yield ABSTAIN
                return
            yield head
            yield from pieces
            return
        yield ABSTAIN if head.strip() == NO_ANSWER else head

    def rarity(self, terms: list[str]) -> dict[str, float]:
        """Each term's weight by how few papers of the collection hold it."""
        return rarity_weights(terms, self.keyword.paper_frequency, self.keyword.paper_count)

    def _abstain(self, state: dict, answer: Answer) -> Iterator[str]:
        answer.abstained = True
        text = self.prompts["abstain"].format(topic=topic_of(state["question"]))
        if not self.keyword.paper_count:
            chroma = self.settings.chroma
            where = self.store.location if chroma.host else self.settings.data_dir
            text = self.prompts["empty"].format(collection=chroma.collection, where=where)
        elif state["filters"]:
            text += f" Only papers {state['filters'].describe()} were searched."
        answer.text += text
        yield text

    def _citations(
        self,
        text: str,
        citations: CitationFilter,
        used: list[Source],
        vector: np.ndarray,
        chances: dict[int, float],
    ) -> list[Citation]:
        """Each cited source with the abstract sentence that best supports what cites it, and
        the chance that it addresses the question (by source number)."""
        by_number = {s.number: s for s in used}
        claims = split_sentences(text.replace("\n", " "))
        result = []
        for source_number, display in sorted(citations.numbers.items(), key=lambda i: i[1]):
            source = by_number[source_number]
            quote = next((s.text for s in source.sentences if as_quoted(s.text)[:-1] in text), "")
            if not quote:  # the answer paraphrases: find the sentence closest to its claim
                claim = " ".join(c for c in claims if f"[{display}]" in c)
                claim = CITATION.sub("", claim).replace("*", "").strip()
                ranked = quotes(claim, self.embed(claim) if claim else vector, [source])
                quote = ranked[0].sentence.text if ranked else source.hit.text
            hit = source.hit
            relevance = round(chances.get(source_number, 0.0), 3)
            result.append(
                Citation(
                    display,
                    hit.paper_id,
                    hit.title,
                    hit.url,
                    quote,
                    hit.score,
                    source.abstract,
                    relevance,
                    hit.authors,
                    hit.date,
                    hit.listing,
                )
            )
        return result
