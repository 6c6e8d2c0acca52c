"""Attribution: each claim of a model's answer rests on the source it cites, or is left out.

`Attributor` reads the model's text as it streams and lets through one finished sentence
at a time. A sentence that makes a claim is scored against every source: by the share of
its rare terms the source holds and by how close its nearest sentence comes in meaning.
A claim its own citation supports stands; one without a supporting citation is cited to
the source that supports it; one that no source supports, a bare `[n]`, or a sentence the
model repeats, is left out. Figures and specific names ("CIFAR-100") must appear in the
source a claim is attributed to.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rag.answer import Citation, Claim, Status
from rag.cite import CITATION, CitationFilter
from rag.context import Source
from rag.extractive import as_quoted
from rag.keyword import tokenize
from rag.relevance import QUANTITY, key_terms, names, term_coverage
from rag.split import split_sentences

CLAIM_TERMS = 3  # a sentence with fewer key terms makes no claim ("Two papers do:")
LOOP_REPEATS = 3  # a model that repeats this many sentences is looping
COMMON_NAME = math.log(10)  # rarity of a name that a tenth of the papers use ("LLM")
LIST_MARKER = re.compile(r"\s*(?:(?:[-*+]|\d+[.)])\s+)?")  # "- " or "10. " before an item
MARKUP = re.compile(r"^\s*(?:[-*+]|\d+[.)]|#+)\s+|[*_`#>]")
LEADING_CITATIONS = re.compile(r"^(?:\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\])+")
TRAILING_PUNCTUATION = re.compile(r"([.!?:;]*)\s*$")
# Weights of the support score and the score a claim needs, chosen on eval/claims/default.jsonl
# by eval/tune_attribution.py.
TERM_WEIGHT = 0.6  # and 1 - TERM_WEIGHT for meaning
MIN_SUPPORT = 0.45


def sentences_of(text: str) -> list[str]:
    """Sentences, each with the citations that follow its full stop ("… works. [2]")."""
    merged: list[str] = []
    for sentence in split_sentences(text):
        leading = LEADING_CITATIONS.match(sentence)
        if merged and leading:
            merged[-1] += " " + leading.group().strip()
            sentence = sentence[leading.end() :].strip()
        if sentence:
            merged.append(sentence)
    return merged


def plain_claim(text: str) -> str:
    return " ".join(MARKUP.sub("", CITATION.sub("", text)).split())


def figures(text: str) -> set[str]:
    """The figures a text states ("42%", "3.5", "10x", "128"), as digits; a lone digit
    without a unit is left out, as it is more often a list's number than a result."""
    stated = set()
    for match in QUANTITY.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if len(digits) > 1 or digits != match.group().strip():
            stated.add(digits)
    return stated


@dataclass
class Attributor:
    """Checks a streamed answer sentence by sentence against `sources` (see the module)."""

    sources: list[Source]
    embed: Callable[[str], np.ndarray]
    weigh: Callable[[list[str]], dict[str, float]]  # rarity weights of terms
    min_support: float = MIN_SUPPORT
    claims: list[Claim] = field(default_factory=list)
    _pending: str = ""
    _held: str = ""  # sentences without a claim, shown once a supported claim comes
    _seen: set[str] = field(default_factory=set)
    _mid_line: bool = False  # sentences of the current line were shown
    _tokens: dict[int, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        texts = [f"{s.hit.title} {s.abstract}" for s in self.sources]
        self._tokens = {
            s.number: set(tokens) for s, tokens in zip(self.sources, tokenize(texts), strict=True)
        }

    @property
    def looping(self) -> bool:
        """Whether the model keeps repeating itself (it is then stopped)."""
        return sum(c.status == "repeated" for c in self.claims) >= LOOP_REPEATS

    @property
    def supported(self) -> int:
        return sum(c.status in ("cited", "added", "moved") for c in self.claims)

    def feed(self, piece: str) -> str:
        """What can be shown of the text so far; an unfinished sentence waits."""
        self._pending += piece
        lines = self._pending.split("\n")
        done, last = lines[:-1], lines[-1]
        shown = "".join(self._line(line) + "\n" for line in done)
        sentences = sentences_of(last)
        if len(sentences) > 1:  # all but the last are finished
            shown += self._line(" ".join(sentences[:-1]), ends_line=False)
            rest = sentences[-1]
            self._pending = last[len(last.rstrip()) - len(rest) :]  # with its trailing space
        else:
            self._pending = last
        return self._release(shown)

    def finish(self, complete: bool = True) -> str:
        """The rest of the text; an unfinished sentence is dropped when the stream broke off
        (`complete` False)."""
        shown = self._line(self._pending) if complete else ""
        self._pending = ""
        return self._release(shown)

    def _release(self, shown: str) -> str:
        """Text without a claim waits until a supported claim is shown, so that an answer
        with none can be replaced whole."""
        if not self.supported:
            self._held += shown
            return ""
        shown, self._held = self._held + shown, ""
        return shown

    def _line(self, line: str, ends_line: bool = True) -> str:
        """A finished line (or run of sentences), its claims checked; `ends_line` False when
        the line goes on, so that what follows on it is joined with a space."""
        marker = "" if self._mid_line else LIST_MARKER.match(line).group()
        kept = [k for k in map(self._sentence, sentences_of(line[len(marker) :])) if k]
        shown = ""
        if kept:  # a list item whose sentences are all left out goes with its marker
            shown = (" " if self._mid_line else marker) + " ".join(kept)
            self._mid_line = True
        if ends_line:
            self._mid_line = False
        return shown

    def _sentence(self, sentence: str) -> str:
        """The sentence as shown: itself, with a citation added or moved, or "" (left out)."""
        text = plain_claim(sentence)
        if not any(c.isalnum() for c in text):
            return ""  # citation markers and nothing else
        key = re.sub(r"\d+", "#", text.casefold())  # "Paper 3: X" repeats "Paper 2: X"
        if key in self._seen:  # a model that loops
            self.claims.append(Claim(text, [], 0.0, "repeated"))
            return ""
        self._seen.add(key)
        terms = key_terms(text)
        if len(terms) < CLAIM_TERMS or text.endswith(":"):
            return sentence  # a lead line or a heading, not a claim
        cited = [
            int(n) for m in CITATION.finditer(sentence) for n in m.group(2).split(",") if n.strip()
        ]
        scores = self.scores(text, terms)
        own = max((scores.get(n, 0.0) for n in cited), default=0.0)
        best = max(scores, key=scores.get) if scores else None
        if own >= self.min_support:
            source = max(cited, key=lambda n: scores.get(n, 0.0))
            self.claims.append(Claim(text, cited, own, "cited", source))
            return sentence
        found = scores[best] if best is not None else 0.0
        if found < self.min_support:
            self.claims.append(Claim(text, cited, found, "unsupported"))
            return ""
        status: Status = "moved" if cited else "added"
        self.claims.append(Claim(text, cited, found, status, best))
        return cite_at_end(CITATION.sub("", sentence).rstrip(), best)

    def scores(self, claim: str, terms: list[str]) -> dict[int, float]:
        """Each source's support for the claim: its share of the claim's terms (by rarity)
        and its nearest sentence's cosine; 0 when it lacks a figure the claim states."""
        return {number: support(*parts) for number, parts in self.parts(claim, terms).items()}

    def parts(self, claim: str, terms: list[str]) -> dict[int, tuple[float, float, bool]]:
        """Per source: the claim's term coverage, its best sentence cosine, and whether a
        figure of the claim is missing from it."""
        weights = self.weigh(terms)
        vector = self.embed(claim)
        stated = figures(claim)
        named = [name for name in names(claim) if not self.common(name)]
        result = {}
        for source in self.sources:
            text = f"{source.hit.title} {source.abstract}"
            coverage = term_coverage(weights, self._tokens[source.number])
            meaning = max((float(s.vector @ vector) for s in source.sentences), default=0.0)
            missing = bool(stated - figures(text)) or any(
                name.casefold() not in text.casefold() for name in named
            )
            result[source.number] = (coverage, meaning, missing)
        return result

    def common(self, name: str) -> bool:
        """Whether a name is the field's common vocabulary ("LLM", "RL"), not a specific one."""
        rarity = self.weigh(tokenize([name])[0])
        return bool(rarity) and min(rarity.values()) < COMMON_NAME


def support(
    coverage: float, meaning: float, missing: bool, term_weight: float = TERM_WEIGHT
) -> float:
    """A source's support for a claim from its parts (`Attributor.parts`)."""
    return 0.0 if missing else term_weight * coverage + (1 - term_weight) * max(meaning, 0.0)


def cite_at_end(sentence: str, number: int) -> str:
    """`sentence` with `[number]` before its closing punctuation."""
    punctuation = TRAILING_PUNCTUATION.search(sentence).group(1)
    body = sentence[: len(sentence) - len(punctuation)].rstrip() if punctuation else sentence
    return f"{body} [{number}]{punctuation}"


def attribution_notice(claims: list[Claim]) -> str:
    """What attribution changed in the model's answer, in one sentence ("" when nothing)."""
    counts = {status: sum(c.status == status for c in claims) for status in Claim.STATUSES}
    changes = [
        f"{what.format(n=n)}"
        for status, what in (
            ("added", "cited {n} that carried no citation"),
            ("moved", "moved the citation of {n} to the source that supports it"),
            ("unsupported", "left out {n} that no source supports"),
            ("repeated", "left out {n} repeated"),
        )
        if (n := counts[status])
    ]
    if not changes:
        return ""
    listed = ", ".join(changes[:-1]) + (" and " if len(changes) > 1 else "") + changes[-1]
    return f"Each sentence of the model's answer was checked against the sources: {listed}."


def cited_papers(
    text: str,
    citations: CitationFilter,
    used: list[Source],
    vector: np.ndarray,
    chances: dict[int, float],
    embed: Callable[[str], np.ndarray],
) -> list[Citation]:
    """Stage 6, verify: each cited source with the abstract sentence that best supports what
    cites it, and the chance that it addresses the question (`chances`, by source number)."""
    by_number = {s.number: s for s in used}
    claims = split_sentences(text.replace("\n", " "))
    result = []
    for source_number, display in sorted(citations.numbers.items(), key=lambda i: i[1]):
        source = by_number[source_number]
        quote = next((s.text for s in source.sentences if as_quoted(s.text)[:-1] in text), "")
        if not quote:  # the answer paraphrases: find the sentence closest to its claim
            claim = " ".join(c for c in claims if f"[{display}]" in c)
            claim = CITATION.sub("", claim).replace("*", "").strip()
            claim_vector = embed(claim) if claim else vector
            nearest = max(
                source.sentences, key=lambda s: float(s.vector @ claim_vector), default=None
            )
            quote = nearest.text if nearest else source.hit.text
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
