"""Does a paper address the question? Judged per paper, from meaning and from terms.

Six signals for each retrieved paper: the cosine of the question with the paper's best chunk
and with its best sentence, how far that sentence falls behind the best paper's, the share of
the question's key terms (weighted by how rare they are in the collection) that the paper's
title and abstract hold, that share without its heaviest term (breadth), and the cosine of
the question with the collection's mean vector, relative to its own chunks' (domain: is the
question about this field at all?).
A logistic model
over them, fitted on the dev questions of both shipped collections by `eval/tune_answer.py`,
gives the chance that the paper addresses the question. A near-miss question shares one word
with a paper but not its other terms, and a paraphrase shares few terms but much meaning: one
cosine alone cannot tell them apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from bm25s.stopwords import STOPWORDS_EN_PLUS

from rag.context import Source
from rag.keyword import tokenize

# Words that say nothing about a topic: English function words, and what questions about
# papers are phrased with ("which papers study ...", "what is the main finding of ..."). Stemmed.
GENERIC_TERMS = frozenset(
    tokenize(
        [
            " ".join(STOPWORDS_EN_PLUS) + " "
            "would could might must shall may much many get gets got getting way make makes"
            " made also one ones us anyone someone something anything any there still like well"
            " even just really thing things kind sort lot whether else let see"
            " study studies address use uses using propose proposes proposed discuss examine"
            " investigate consider explore tackle cover mention describe present introduce"
            " analyze work works look looking method methods approach approaches model models"
            " research collection article articles find finds finding findings show shows main"
            " key idea ideas contribution contributions result results new novel purpose goal"
            " summary summarize overview paper papers exist existing tell explain known"
            " author authors"
        ]
    )[0]
)
# A quantity, not a digit inside a name ("R1", "GPT-4", "Qwen2.5") or a label ("0/1 rewards").
QUANTITY = re.compile(
    r"(?<![A-Za-z\d./-])\d+(?:[.,]\d+)*(?:\s*(?:%|\u00d7|x\b|times\b|fold\b|percent\b)"
    r"|times\b|x\b|[KMB]\b|(?![A-Za-z\d/]))"
)
DEFINING_SENTENCE = re.compile(
    r"\b(?:we|this (?:paper|work))\s+(?:\w+\s+)?(?:propose|introduce|present|develop|call|dub"
    r"|name|term)|\b(?:called|dubbed|named|termed)\b",
    re.IGNORECASE,
)
# "MEND", "miniF2F", "GRPO-lambda", and coined hyphenated names such as "Tex-Zero".
ACRONYM = re.compile(
    r"\b[A-Za-z]*[A-Z0-9][a-z]*[A-Z0-9][A-Za-z0-9-]*\b|\b[A-Z][a-z]+-[A-Z][A-Za-z0-9]*\b"
)
INTRODUCED_WITHIN = 80  # characters after "we propose" in which the introduced name stands
# Fitted by eval/tune_answer.py on eval/default/dev.jsonl and eval/hf/dev.jsonl.
WEIGHTS = {
    "chunk": 1.69,
    "sentence": 2.03,
    "behind": -1.92,
    "coverage": 2.4,
    "breadth": 1.61,
}
BIAS = -2.22


@dataclass(frozen=True)
class Relevance:
    """The evidence that `source` addresses a question, and the chance that it does."""

    source: Source
    chunk: float
    sentence: float
    behind: float
    coverage: float
    breadth: float
    domain: float  # the same for every paper: decides apart from `probability`

    @property
    def features(self) -> dict[str, float]:
        return {
            "chunk": self.chunk,
            "sentence": self.sentence,
            "behind": self.behind,
            "coverage": self.coverage,
            "breadth": self.breadth,
        }

    @property
    def probability(self) -> float:
        logit = BIAS + sum(WEIGHTS[name] * value for name, value in self.features.items())
        return 1 / (1 + math.exp(-logit))


def key_terms(question: str) -> list[str]:
    """The question's stemmed terms without stop words and question words."""
    return [t for t in dict.fromkeys(tokenize([question])[0]) if t not in GENERIC_TERMS]


def found(term: str, tokens: set[str]) -> bool:
    """A stemmed term among tokens; stems of near length sharing 5+ leading letters count
    too (the stemmer leaves "accurate" as "accur" but "accuracy" as "accuraci")."""
    return term in tokens or (
        len(term) >= 5
        and any(t.startswith(term[:5]) and abs(len(t) - len(term)) <= 3 for t in tokens)
    )


def term_coverage(weights: dict[str, float], tokens: set[str], but_heaviest: bool = False) -> float:
    """The share of the terms' weight that `tokens` hold; with `but_heaviest`, without the
    heaviest term they hold (a near miss shares one salient word and nothing else)."""
    total = sum(weights.values())
    if not total:
        return 0.0
    held = [w for term, w in weights.items() if found(term, tokens)]
    if but_heaviest and held:
        held.remove(max(held))
    return sum(held) / total


def rarity_weights(terms: list[str], paper_frequency: Callable[[str], int], papers: int) -> dict:
    """Inverse paper frequency: a term no paper holds weighs most."""
    return {t: math.log((papers + 1) / (paper_frequency(t) + 0.5)) for t in terms}


def assess(
    query: str,
    vector: np.ndarray,
    sources: list[Source],
    paper_frequency: Callable[[str], int],
    papers: int,
    centroid: np.ndarray,
) -> list[Relevance]:
    """Each source's relevance to `query`, in the sources' order. `centroid` is the
    collection's mean direction, scaled so that a typical chunk of it scores 1.0: a question
    far below that is about another field. An empty `centroid` (the keyword index has no
    chunks yet, while another process writes the first ones) judges no question off-field."""
    domain = float(vector @ centroid) if centroid.size else 1.0
    weights = rarity_weights(key_terms(query), paper_frequency, max(papers, 1))
    best_sentences = [
        max((float(s.vector @ vector) for s in source.sentences), default=source.hit.score)
        for source in sources
    ]
    top = max(best_sentences, default=0.0)
    texts = tokenize([f"{source.hit.title} {source.abstract}" for source in sources])
    return [
        Relevance(
            source=source,
            chunk=source.hit.score,
            sentence=sentence,
            behind=top - sentence,
            coverage=term_coverage(weights, set(tokens)),
            breadth=term_coverage(weights, set(tokens), but_heaviest=True),
            domain=domain,
        )
        for source, sentence, tokens in zip(sources, best_sentences, texts, strict=True)
    ]


def title_head(title: str) -> str:
    """The part of a title before ":" or "?", by which papers are named ("Lyra" of "Lyra:
    Orchestrating ..."); the whole title when it has neither."""
    return re.split(r"[:?]", title, maxsplit=1)[0].strip()


def introduces(source: Source, name: str) -> bool:
    """Whether the paper gives `name` (an acronym or coined word) as its own: in its title or
    just after "we propose/introduce", "called". A model, benchmark or field it only uses or
    spells out ("Qwen3-8B", "GSM8K", "large language models (LLM)") does not name it."""
    word = rf"(?<![\w-]){re.escape(name)}(?![\w-])"
    if re.search(word, source.hit.title):
        return True
    return any(
        re.search(word, s.text[m.start() : m.end() + INTRODUCED_WITHIN])
        for s in source.sentences
        for m in DEFINING_SENTENCE.finditer(s.text)
    )


def naming_terms(question: str, source: Source) -> set[str]:
    """The terms by which the question names the paper: the words of its title's head
    ("Lyra" of "Lyra: Orchestrating ...", the whole of a title without a colon) when the
    question holds them all, and the acronyms it introduces."""
    words = set(tokenize([title_head(source.hit.title)])[0])
    naming = words if words <= set(tokenize([question])[0]) else set()
    for acronym in ACRONYM.findall(question):
        if introduces(source, acronym):
            naming |= set(tokenize([acronym])[0])
    return naming


def asked_terms(question: str, sources: list[Source]) -> list[str]:
    """The question's key terms without those that name the papers: what it asks of them."""
    naming = set().union(*(naming_terms(question, s) for s in sources))
    return [t for t in key_terms(question) if t not in naming]


@dataclass(frozen=True)
class Support:
    """How well one sentence of a paper states what a question asks about it."""

    share: float  # the largest rarity-weighted share of the asked terms in one sentence
    similarity: float  # the best cosine of one sentence with the question
    number_share: float  # `share` over the sentences that hold a number


def statement_support(
    question: str,
    vector: np.ndarray,
    source: Source,
    paper_frequency: Callable[[str], int],
    papers: int,
) -> Support:
    """What one sentence of `source` holds of the question's asked terms (all of them when
    the question asks nothing beyond naming the paper), and how close it comes in meaning."""
    similarity = max((float(s.vector @ vector) for s in source.sentences), default=0.0)
    terms = asked_terms(question, [source])
    numbered = [s for s in source.sentences if QUANTITY.search(s.text)]
    if not terms:
        return Support(1.0, similarity, 1.0 if numbered else 0.0)
    weights = rarity_weights(terms, paper_frequency, max(papers, 1))
    sentence_tokens = tokenize([s.text for s in source.sentences])
    shares = {
        s.index: term_coverage(weights, set(tokens))
        for s, tokens in zip(source.sentences, sentence_tokens, strict=True)
    }
    return Support(
        max(shares.values(), default=0.0),
        similarity,
        max((shares[s.index] for s in numbered), default=0.0),
    )
