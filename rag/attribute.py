"""Attribution: each claim of a model's answer rests on the source it cites, or is left out.

`Attributor` reads the model's text as it streams and lets through one finished sentence
at a time. A sentence that makes a claim is scored against every source by the attribution
model (rag/models/attribution.json, trained by eval/tune_attribution.py on labelled claims):
the chance that the source's abstract supports it, from the share of the claim's rare terms
the source holds, how close its nearest sentence comes in meaning, and how much of what the
claim says beyond the source's own name is found there rather than in another source (a
claim that names one paper but states its neighbour's finding). A claim its own citation
supports stands; one without a supporting citation is cited to the source that supports it;
one that no source supports, a bare `[n]`, or a sentence the model repeats, is left out.
Figures and specific names ("CIFAR-100") must appear in the source a claim is attributed to.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from rag import learned
from rag.answer import Citation, Claim, Status
from rag.cite import CITATION, CitationFilter
from rag.context import Source
from rag.extractive import as_quoted, coined_names
from rag.keyword import tokenize
from rag.relevance import QUANTITY, found, key_terms, names, term_coverage
from rag.split import split_sentences

CLAIM_TERMS = 3  # a sentence with fewer key terms makes no claim ("Two papers do:")
LOOP_REPEATS = 3  # a model that repeats this many sentences is looping
COMMON_NAME = math.log(10)  # rarity of a name that a tenth of the papers use ("LLM")
LIST_MARKER = re.compile(r"\s*(?:(?:[-*+]|\d+[.)])\s+)?")  # "- " or "10. " before an item
NUMBER_WORDS = {"two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7"}
NUMBER_WORDS |= {"eight": "8", "nine": "9", "ten": "10", "twenty": "20", "hundred": "100"}
NUMBER_WORD = re.compile(rf"\b(?:{'|'.join(NUMBER_WORDS)})\b", re.IGNORECASE)
LABEL = re.compile(r"\b(?:paper|source|step|item|part|section|table|figure)\s+$", re.IGNORECASE)
CAPITALIZED = re.compile(r"(?<=[\w,;:)] )[A-Z][\w-]*[a-z][\w-]*")
# Words that make a claim absolute or stronger than a finding: what an abstract that does not
# use them does not say ("completely eliminates", "on every benchmark", "proves").
ABSOLUTE = re.compile(
    r"\b(?:all|every\w*|always|never|complete\w*|entire\w*|guarant\w+|prov(?:e|es|ed|en)"
    r"|proof|eliminat\w+|universal\w*|perfect\w*|significant\w*|dramatic\w*)\b",
    re.IGNORECASE,
)
MARKUP = re.compile(r"^\s*(?:[-*+]|\d+[.)]|#+)\s+|[*_`#>]")
LEADING_CITATIONS = re.compile(r"^(?:\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\])+")
TRAILING_PUNCTUATION = re.compile(r"([.!?:;]*)\s*$")
MIN_SUPPORT = 0.5  # the chance of support a claim needs


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
    """The figures a text states ("42%", "3.5", "10x", "128", "4 steps", "seven"), as
    digits; a number that labels ("Paper 2", "step 3") is left out."""
    stated = {NUMBER_WORDS[m.group().casefold()] for m in NUMBER_WORD.finditer(text)}
    for match in QUANTITY.finditer(text):
        if not LABEL.search(text, 0, match.start()):
            stated.add(re.sub(r"\D", "", match.group()))
    return stated


def numbers_in(text: str) -> set[str]:
    """Every number a source's text holds, as digits, ranges' ends and names' digits too
    ("0-15%" holds 0 and 15): a claim's figure must be among them."""
    held = {re.sub(r"\D", "", n) for n in re.findall(r"\d+(?:[.,]\d+)*", text)}
    return held | {NUMBER_WORDS[m.group().casefold()] for m in NUMBER_WORD.finditer(text)}


def absolute_words(text: str) -> set[str]:
    return {m.group().casefold() for m in ABSOLUTE.finditer(text)}


def capitalized(text: str) -> set[str]:
    """The capitalised words inside a sentence ("evaluated on Adult and Office-Home"): most
    name something, which a source either names too or does not say."""
    return set(CAPITALIZED.findall(text))


@dataclass
class Attributor:
    """Checks a streamed answer sentence by sentence against `sources` (see the module)."""

    sources: list[Source]
    embed: Callable[[str], np.ndarray]
    weigh: Callable[[list[str]], dict[str, float]]  # rarity weights of terms
    min_support: float = MIN_SUPPORT
    may_move: bool = True  # a claim its citation does not support may go to one that does
    claims: list[Claim] = field(default_factory=list)
    _pending: str = ""
    _held: str = ""  # sentences without a claim, shown once a supported claim comes
    _seen: set[str] = field(default_factory=set)
    _mid_line: bool = False  # sentences of the current line were shown
    _tokens: dict[int, set[str]] = field(default_factory=dict)
    _titles: dict[int, set[str]] = field(default_factory=dict)
    _title_vectors: dict[int, np.ndarray] = field(default_factory=dict)
    # per source, read once: its title and abstract lower-cased, its numbers, its absolute words
    _folded: dict[int, str] = field(default_factory=dict)
    _numbers: dict[int, set[str]] = field(default_factory=dict)
    _absolute: dict[int, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        texts = [f"{s.hit.title} {s.abstract}" for s in self.sources]
        # what names the paper: its title and the names it coins ("MEND")
        titles = tokenize([f"{s.hit.title} {' '.join(coined_names(s))}" for s in self.sources])
        for source, text, tokens, title in zip(
            self.sources, texts, tokenize(texts), titles, strict=True
        ):
            self._tokens[source.number] = set(tokens)
            self._titles[source.number] = set(title)
            self._folded[source.number] = text.casefold()
            self._numbers[source.number] = numbers_in(text)
            self._absolute[source.number] = absolute_words(text)

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

    def checked_stream(self, pieces: Iterator[str], number: int, outcome: dict) -> Iterator[str]:
        """`checked` as the model's text about source `number` streams: each sentence that
        stands, once the next one begins; the last when the stream ends (dropped when
        `outcome["finish_reason"]` says it was cut off)."""
        pending = ""
        for piece in pieces:
            pending += piece
            sentences = sentences_of(" ".join(pending.split()))
            for sentence in sentences[:-1]:
                if kept := self.checked(sentence, number):
                    yield kept
            spaced = " " if pending[-1:].isspace() else ""  # the next piece starts a word
            pending = (sentences[-1] + spaced) if sentences else ""
        if kept := self.checked(pending, number, outcome.get("finish_reason") != "length"):
            yield kept

    def checked(self, text: str, number: int, complete: bool = True) -> str:
        """A model's text about source `number` alone, each sentence cited to it and kept
        only when it supports it (the citations the model wrote are dropped, and so are
        sentences that state nothing to check); a last sentence without its full stop is
        dropped when the text was cut off (`complete` False)."""
        sentences = sentences_of(" ".join(text.split()))
        if sentences and not complete and sentences[-1][-1:] not in ".!?":
            sentences.pop()
        kept = []
        for sentence in sentences:
            plain = CITATION.sub("", sentence).strip()
            if len(key_terms(plain_claim(plain))) >= CLAIM_TERMS:  # "The answer is: 2.5%" is not
                kept.append(self._sentence(cite_at_end(plain, number)))
        return " ".join(k for k in kept if k)

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
        if found < self.min_support or (cited and not self.may_move):
            self.claims.append(Claim(text, cited, found, "unsupported"))
            return ""
        status: Status = "moved" if cited else "added"
        self.claims.append(Claim(text, cited, found, status, best))
        return cite_at_end(CITATION.sub("", sentence).rstrip(), best)

    def scores(self, claim: str, terms: list[str]) -> dict[int, float]:
        """Each source's chance of supporting the claim; 0 when it lacks a figure or a
        specific name the claim states."""
        evidence = self.evidence(claim, terms)
        rows = [support_features(evidence, number) for number in evidence]
        chances = learned.model("attribution").probabilities(rows) if rows else []
        return {
            number: 0.0 if evidence[number].missing else float(chance)
            for number, chance in zip(evidence, chances, strict=True)
        }

    def evidence(self, claim: str, terms: list[str]) -> dict[int, Evidence]:
        """What each source holds of the claim (see `Evidence`)."""
        weights = self.weigh(terms)
        vector = self.embed(claim)
        stated = figures(claim)
        named = [name for name in names(claim) if not self.common(name)]
        words = [word for word in capitalized(claim) if not self.common(word)]
        strong = absolute_words(claim)
        total = sum(weights.values()) or 1.0
        result = {}
        for source in self.sources:
            number = source.number
            tokens, folded = self._tokens[number], self._folded[number]
            beyond = {t: w for t, w in weights.items() if t not in self._titles[number]}
            lacking = [t for t in beyond if not found(t, tokens)]
            held_elsewhere = [
                t
                for t in lacking
                if any(found(t, self._tokens[n]) for n in self._tokens if n != number)
            ]
            result[number] = Evidence(
                coverage=term_coverage(weights, tokens),
                meaning=max(float(v @ vector) for v in self.vectors(source)),
                missing=bool(stated - self._numbers[number])
                or any(name.casefold() not in folded for name in named),
                content=1 - sum(weights[t] for t in lacking) / total,
                elsewhere=sum(weights[t] for t in held_elsewhere) / total,
                unnamed=sum(w.casefold() not in folded for w in words) / (len(words) or 1),
                stronger=min(len(strong - self._absolute[number]), 2) / 2,
            )
        return result

    def vectors(self, source: Source) -> list[np.ndarray]:
        """The vectors of the source's title (embedded once) and of its sentences."""
        if source.number not in self._title_vectors:
            self._title_vectors[source.number] = self.embed(source.hit.title)
        return [self._title_vectors[source.number], *(s.vector for s in source.sentences)]

    def common(self, name: str) -> bool:
        """Whether a name is the field's common vocabulary ("LLM", "RL"), not a specific one."""
        rarity = self.weigh(tokenize([name])[0])
        return bool(rarity) and min(rarity.values()) < COMMON_NAME


@dataclass(frozen=True)
class Evidence:
    """What one source holds of a claim."""

    coverage: float  # the share of the claim's terms, by rarity, in its title and abstract
    meaning: float  # the cosine of its title or sentence nearest to the claim
    missing: bool  # it lacks a figure or a specific name the claim states
    content: float  # 1 - the share of the terms beyond its title and names it lacks
    elsewhere: float  # the share of the terms beyond its title it lacks but another holds
    unnamed: float  # the share of the claim's capitalised words it does not use
    stronger: float  # the claim's absolute words ("every", "proves") it does not use (0-1)


def support_features(evidence: dict[int, Evidence], number: int) -> dict[str, float]:
    """The attribution model's evidence that source `number` supports a claim: what it holds
    of the claim, and by how much it beats the best other source (a moved claim is held by
    another)."""
    own = evidence[number]
    rivals = [e for n, e in evidence.items() if n != number]
    return {
        "coverage": own.coverage,
        "meaning": max(own.meaning, 0.0),
        "content": own.content,
        "elsewhere": own.elsewhere,
        "unnamed": own.unnamed,
        "stronger": own.stronger,
        "content_margin": own.content - max((r.content for r in rivals), default=0.0),
        "meaning_margin": own.meaning - max((r.meaning for r in rivals), default=0.0),
    }


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
