"""Stages 4-6, generate: the context, the answer's text as it streams (the offline answerer's,
the model's with each claim checked, or a list from the model's verdicts), then the finished
`Answer` with its citations verified."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from rag.answer import EXTRACTIVE, Answer
from rag.attribute import Attributor, attribution_notice, cited_papers
from rag.cite import CitationFilter
from rag.config import Settings
from rag.context import Source, render_context
from rag.decide import Decision
from rag.extractive import chosen, cite, extractive_answer, lead_line, quotes, topic_of
from rag.keyword import KeywordIndex
from rag.llm import ABSTAIN, LLMAnswerer, LLMError
from rag.relevance import rarity_weights
from rag.store import StoredSentence, VectorStore

log = logging.getLogger(__name__)
NOTHING_SUPPORTED = "No sentence of {model}'s answer is supported by its sources."
EXCERPT_SENTENCES = 4  # the sentences of one paper a model reads, at most
BRIEF_SENTENCES = 3  # and a brief answer restates, at most
BRIEF_PAPERS = 4  # the papers a brief answer asks the model about; the rest are listed
LIST_BY_CODE = (
    "This list was built from the relevance model, not by the language model"
    " (PAPERCHAT_LLM_LISTS=extractive; per_paper or free let the model decide)."
)


class Generator:
    """Writes answers over one collection, with its prompts and, when configured, its LLM."""

    def __init__(
        self,
        settings: Settings,
        keyword: KeywordIndex,
        store: VectorStore,
        embed: Callable[[str], np.ndarray],
        prompts: dict[str, str],
        llm: LLMAnswerer | None,
    ) -> None:
        self.settings = settings
        self.keyword = keyword
        self.store = store
        self.embed = embed
        self.prompts = prompts
        self.llm = llm

    def rarity(self, terms: list[str]) -> dict[str, float]:
        """Each term's weight by how few papers of the collection hold it."""
        return rarity_weights(terms, self.keyword.paper_frequency, self.keyword.paper_count)

    def __call__(self, decided: Decision) -> Iterator[str | Answer]:
        """The answer's text in pieces as they are written, then the `Answer`."""
        started = time.perf_counter()
        use_llm = decided.writer == "llm"
        answer = Answer(
            question=decided.question,
            text="",
            citations=[],
            abstained=False,
            answerer=EXTRACTIVE if decided.writer == EXTRACTIVE else self.llm.name,
            timings=decided.timings,
            standalone_question=decided.standalone,
            notices=decided.notices,
            sources=[s.hit for s in decided.shown],
        )
        for notice in answer.notices:
            yield f"*{notice}*\n\n"
            answer.text += f"*{notice}*\n\n"
        brief = use_llm and self.llm.brief  # a small model, asked one paper at a time
        # a brief answer is about the papers the relevance model keeps (the offline answer's)
        sources = decided.extractive if brief else decided.relevant
        if not sources:
            yield from self.abstain(decided, answer)
            answer.timings["generate"] = time.perf_counter() - started
            answer.timings["verify"] = 0.0  # nothing cited, nothing to check
            yield answer
            return

        excerpts = None
        if use_llm:
            most = BRIEF_SENTENCES if brief else EXCERPT_SENTENCES
            excerpts = self.excerpts(decided, sources, most)
        if brief:  # one paper at a time: its few sentences fit any window
            context, used = "", sources
        else:
            budget = self.settings.answer.context_tokens
            if use_llm:
                budget = min(budget, self.llm.room_for_sources(decided.standalone))
            context, used = render_context(sources, budget, excerpts)
        if use_llm and not used:
            window = self.settings.llm.context
            reason = f"No source fits the language model's context window ({window:,} tokens)."
            notice = self.fall_back(answer, reason)
            answer.text += notice
            yield notice
            use_llm = False
            context, used = render_context(decided.relevant, self.settings.answer.context_tokens)
        elif use_llm and len(used) < len(sources):
            notice = (
                f"Only {len(used)} of the {len(sources)} candidate papers fit the language"
                f" model's context window ({self.settings.llm.context:,} tokens)."
            )
            answer.notices.append(notice)
            answer.text += f"*{notice}*\n\n"
            yield f"*{notice}*\n\n"
        citations = CitationFilter({s.number for s in used})
        if decided.writer == EXTRACTIVE and decided.use_llm:  # a list, by the setting
            answer.notices.append(LIST_BY_CODE)
        if brief:
            pieces = self.brief_pieces(decided, used, excerpts, answer)
        elif use_llm:
            pieces = self.model_pieces(decided, used, context, answer)
        elif decided.writer == "per_paper":
            pieces = self.checked_list(decided, used, answer)
        else:
            pieces = iter([self.offline(decided, decided.extractive, used, answer)])
        for piece in pieces:
            if piece is ABSTAIN:
                yield from self.abstain(decided, answer)
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
            chances = {r.source.number: r.probability for r in decided.relevance}
            answer.citations = cited_papers(
                answer.text, citations, used, decided.vector, chances, self.embed
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

    def offline(
        self, decided: Decision, chosen: list[Source], used: list[Source], answer: Answer
    ) -> str:
        """The extractive answer from the `chosen` papers that made it into the context.
        Sentences are scored against what was asked: for a follow-up, its own words (the
        papers it refers to were already found through the condensed question). An answer
        that the abstract does not state the fact counts as an abstention."""
        relevant = [s for s in chosen if s in used] or used[:1]
        draft = extractive_answer(
            decided.question,
            decided.intent,
            decided.scoring,
            relevant,
            decided.named,
            decided.unstated,
            closest=decided.outcome == "closest" and decided.writer == EXTRACTIVE,
        )
        answer.outcome = draft.outcome
        answer.abstained = draft.outcome == "not_stated"
        return draft.text

    def fall_back(self, answer: Answer, reason: str, after_text: bool = False) -> str:
        """Mark the answer as the offline one, and the notice that says why, to show."""
        answer.fell_back = True
        answer.answerer = EXTRACTIVE
        notice = f"{reason} This is the offline answer."
        answer.notices.append(notice)
        return f"\n\n*{notice}*\n\n" if after_text else f"*{notice}*\n\n"

    def excerpts(
        self, decided: Decision, sources: list[Source], most: int
    ) -> dict[int, list[StoredSentence]]:
        """Of each source, the sentences that bear on the question (the sentence model's
        likeliest, as many as maximise the expected F-beta, up to `most`), in the abstract's
        order: what a model reads of it, besides its title."""
        ranked = quotes(decided.question, decided.intent, decided.scoring, sources)
        return {
            source.number: sorted(
                (q.sentence for q in chosen(ranked, source, most)), key=lambda s: s.index
            )
            for source in sources
        }

    def model_pieces(
        self, decided: Decision, used: list[Source], context: str, answer: Answer
    ) -> Iterator[str | object]:
        """The LLM's answer, each claim checked against the sources as it streams (see
        rag/attribute.py); ABSTAIN if it says NO_ANSWER. When the model fails or none of its
        claims is supported, the extractive answer follows with a notice why."""
        attributor = Attributor(used, self.embed, self.rarity)
        outcome: dict[str, Any] = {}
        text = self.llm.answer_or_abstain(decided.standalone, context, outcome)
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
        if outcome.get("finish_reason") == "length":
            answer.notices.append(
                f"The model's answer was cut off at {self.settings.llm.max_tokens} tokens"
                " (PAPERCHAT_LLM_MAX_TOKENS)."
            )
        elif outcome.get("finish_reason") == "loop":
            answer.notices.append("The model kept repeating itself and was stopped.")
        yield from self.checked_out(decided, used, answer, attributor, outcome, reason)

    def brief_pieces(
        self,
        decided: Decision,
        used: list[Source],
        excerpts: dict[int, list[StoredSentence]],
        answer: Answer,
    ) -> Iterator[str | object]:
        """A small model's answer: for each paper the relevance model keeps (up to
        `BRIEF_PAPERS`), the model restates its quoted sentences on its own, and each of its
        sentences stands only when that paper supports it; code writes the frame (titles,
        the lead line) and quotes the papers of which nothing stands, or that the model was
        not asked about. A named paper whose abstract does not state what is asked gets the
        offline answer, which says so."""
        if decided.intent != "list" and decided.extractive[0] in decided.unstated:
            answer.answerer = EXTRACTIVE
            yield self.offline(decided, decided.extractive, used, answer)
            return
        attributor = Attributor(used, self.embed, self.rarity, may_move=False)
        outcome: dict[str, Any] = {}
        closest = decided.outcome == "closest"
        if len(used) == 1:
            lead = "No paper here says this directly. The closest is " if closest else ""
        else:
            lead = "No paper here says this directly. The closest are:" if closest else ""
            lead = f"{lead or lead_line(decided.question, len(used))}\n\n"
        held = [lead]  # shown with the first supported sentence: else the offline answer is
        reason = ""
        for index, source in enumerate(used):
            quoted = excerpts[source.number]
            held.append(f"{'- ' if len(used) > 1 else ''}**{source.hit.title}**: ")
            said = False
            if index < BRIEF_PAPERS and not reason:
                text = self.llm.brief_stream(
                    decided.standalone, source.hit.title, [s.text for s in quoted], outcome
                )
                try:
                    for kept in attributor.checked_stream(text, source.number, outcome):
                        held.append(f"{' ' if said else ''}{kept}")
                        said = True
                        yield "".join(held)  # a sentence stands: the answer is the model's
                        held = []
                except LLMError as exc:
                    log.info("LLM failed, using the extractive answer: %s", exc)
                    reason = f"The language model failed: {exc}."
            if not said:  # nothing it said of the paper stands, or it was not asked: a quote
                held.append(cite(quoted[0].text if quoted else source.hit.text, source.number))
            held.append("\n")
            if attributor.supported:
                yield "".join(held)
                held = []
        if reason and attributor.supported:  # the answer is whole: the rest were quoted
            answer.notices.append(f"{reason} The papers after it are quoted.")
            reason = ""
        yield from self.checked_out(decided, used, answer, attributor, outcome, reason)

    def checked_out(
        self,
        decided: Decision,
        used: list[Source],
        answer: Answer,
        attributor: Attributor,
        outcome: dict[str, Any],
        reason: str,
    ) -> Iterator[str | object]:
        """After the model wrote: its checked claims and what attribution changed on the
        answer, and, when the model failed (`reason`) or none of its claims is supported,
        the extractive answer with a notice why."""
        answer.claims = attributor.claims
        answer.prompt_tokens = outcome.get("prompt_tokens", 0)
        if notice := attribution_notice(attributor.claims):
            answer.notices.append(notice)
        if not attributor.supported:
            reason = reason or NOTHING_SUPPORTED.format(model=self.llm.name)
        if not reason:
            return
        yield self.fall_back(answer, reason, bool(attributor.supported))
        if not decided.extractive:  # offline, no paper addresses the question
            yield ABSTAIN
            return
        yield self.offline(decided, decided.extractive, used, answer)

    def checked_list(
        self, decided: Decision, used: list[Source], answer: Answer
    ) -> Iterator[str | object]:
        """A list of the papers the model says address the question, one verdict per paper,
        each quoted and cited by code. ABSTAIN when it says no to every one."""
        chosen = []
        for source in used:
            try:
                if self.llm.addresses(decided.standalone, source.hit.title, source.abstract):
                    chosen.append(source)
            except LLMError as exc:
                yield self.fall_back(answer, f"The language model failed: {exc}.")
                chosen = [s for s in decided.extractive if s in used]
                break
        if not chosen:
            yield ABSTAIN
            return
        yield self.offline(decided, chosen, chosen, answer)

    def abstain(self, decided: Decision, answer: Answer) -> Iterator[str]:
        """The refusal: no paper of the collection addresses the question (or it is empty)."""
        answer.abstained, answer.outcome = True, "refused"
        text = self.prompts["abstain"].format(topic=topic_of(decided.question))
        if not self.keyword.paper_count:
            chroma = self.settings.chroma
            where = self.store.location if chroma.host else self.settings.data_dir
            text = self.prompts["empty"].format(collection=chroma.collection, where=where)
        elif decided.filters:
            text += f" Only papers {decided.filters.describe()} were searched."
        answer.text += text
        yield text
