"""Does a paper address the question? Judged per paper, by a model learned from the labelled
bank (rag/models/relevance.json, trained by eval/train_models.py).

The evidence for each retrieved paper: the fusion model's chance for it, the cosine of the
question with its best chunk and its best sentence, how far that sentence falls behind the
best paper's, the share of the question's key terms (weighted by rarity in the collection)
that its title and abstract hold, that share without its heaviest term (breadth), what the
paper lacks that the collection has (a near miss's changed constraint: "for audio" asked of a
video paper), what no paper has, whether the question names it, and how far the question is
from the collection's field. A near miss shares the salient words and fails one constraint;
a plain-language question shares few words but much meaning: no one signal tells them apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from bm25s.stopwords import STOPWORDS_EN_PLUS

from rag import learned
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
# A mixed-case word, an acronym, or letters joined to digits: a dataset, model or method.
NAME = re.compile(r"\b(?:[A-Z][a-z]+[A-Z][\w-]*|[A-Z]{2,}[\w-]*|[A-Za-z]+-?\d[\w-]*)")
# In a question, also a capitalised word after its first ("e.g. Sora or Veo").
ASKED_NAME = re.compile(rf"{NAME.pattern}|(?<=\s)[A-Z][a-z]+\b")
INTRODUCED_WITHIN = 80  # characters after "we propose" in which the introduced name stands


@dataclass(frozen=True)
class Relevance:
    """The evidence that `source` addresses a question, and the chance that it does."""

    source: Source
    features: dict[str, float]
    probability: float

    @property
    def domain(self) -> float:
        """How much the question is about the collection's field (the same for every paper)."""
        return self.features["domain"]


def names(text: str) -> set[str]:
    """The specific names a text uses: "ImageNet", "CIFAR-100", "GSM8K", "Qwen2-7B"."""
    return {m.group().removesuffix("s") for m in NAME.finditer(text)}


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
    named: list[Source],
    paper_frequency: Callable[[str], int],
    papers: int,
    centroid: np.ndarray,
) -> list[Relevance]:
    """Each source's chance of addressing `query`, in the sources' order. `centroid` is the
    collection's mean direction, scaled so that a typical chunk of it scores 1.0: a question
    far below that is about another field. An empty `centroid` (the keyword index has no
    chunks yet, while another process writes the first ones) judges no question off-field."""
    rows = relevance_features(query, vector, sources, named, paper_frequency, papers, centroid)
    chances = learned.model("relevance").probabilities(rows) if rows else []
    return [
        Relevance(source, row, float(chance))
        for source, row, chance in zip(sources, rows, chances, strict=True)
    ]


def relevance_features(
    query: str,
    vector: np.ndarray,
    sources: list[Source],
    named: list[Source],
    paper_frequency: Callable[[str], int],
    papers: int,
    centroid: np.ndarray,
) -> list[dict[str, float]]:
    """The relevance model's evidence for each source (see the module's docstring)."""
    domain = float(vector @ centroid) if centroid.size else 1.0
    papers = max(papers, 1)
    terms = key_terms(query)
    weights = rarity_weights(terms, paper_frequency, papers)
    total = sum(weights.values()) or 1.0
    heaviest = math.log((papers + 1) / 0.5)  # a term no paper holds
    known = {t for t in terms if paper_frequency(t) > 0}
    unknown = sum(w for t, w in weights.items() if t not in known) / total
    best_sentences = [
        max((float(s.vector @ vector) for s in source.sentences), default=source.hit.score)
        for source in sources
    ]
    top = max(best_sentences, default=0.0)
    texts = tokenize([f"{source.hit.title} {source.abstract}" for source in sources])
    rows = []
    for rank, (source, sentence, tokens) in enumerate(
        zip(sources, best_sentences, texts, strict=True), 1
    ):
        held = set(tokens)
        lacking = [w for t, w in weights.items() if t in known and not found(t, held)]
        rows.append(
            {
                "fusion": min(source.hit.fused, 1.0),
                "chunk": source.hit.score,
                "sentence": sentence,
                "behind": top - sentence,
                "coverage": term_coverage(weights, held),
                # the words count where the meaning is close too ("architectures" alone is
                # in many abstracts that are about something else)
                "coverage_meant": term_coverage(weights, held) * max(sentence, 0.0),
                "breadth": term_coverage(weights, held, but_heaviest=True),
                "lacking": sum(lacking) / total,
                "lacking_rarest": max(lacking, default=0.0) / heaviest,
                # most of the question's terms, but not a rare one: a near miss's signature
                "near_miss": term_coverage(weights, held) * max(lacking, default=0.0) / heaviest,
                "unknown": unknown,
                "named": float(source in named),
                "rank": 1 / rank,
                "terms": min(len(terms), 10) / 10,
                "domain": domain,
            }
        )
    return rows


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
    return any(re.search(word, w) for w in defining_windows(s.text for s in source.sentences))


def defining_windows(sentences: Iterable[str]) -> Iterator[str]:
    """The words just after each "we propose", "called" of `sentences`, where a paper names
    what it introduces (`INTRODUCED_WITHIN` characters)."""
    for sentence in sentences:
        for match in DEFINING_SENTENCE.finditer(sentence):
            yield sentence[match.start() : match.end() + INTRODUCED_WITHIN]


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


def unnamed(question: str, sources: list[Source]) -> str:
    """The question without the words that name the papers: "How does MEND edit a model?"
    asks "How does edit a model?" of MEND's sentences."""
    naming = set().union(*(naming_terms(question, s) for s in sources))
    kept = [w for w in question.split() if not set(tokenize([w])[0]) & naming]
    return " ".join(kept) if naming and kept else question


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
    abstract_share: float  # the share of the asked terms the whole abstract holds
    missing_rarest: float  # the rarest asked term the abstract lacks (1: no paper has it)
    names_missing: float  # the share of the names the question asks about that it lacks


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
    own = naming_terms(question, source)
    asked = [m.group() for m in ASKED_NAME.finditer(question)]
    asked = [n for n in asked if not set(tokenize([n])[0]) <= own]  # not the paper's own
    text = f"{source.hit.title} {source.abstract}".casefold()
    names_missing = sum(n.casefold() not in text for n in asked) / len(asked) if asked else 0.0
    if not terms:
        return Support(1.0, similarity, 1.0 if numbered else 0.0, 1.0, 0.0, names_missing)
    weights = rarity_weights(terms, paper_frequency, max(papers, 1))
    sentence_tokens = tokenize([s.text for s in source.sentences])
    shares = {
        s.index: term_coverage(weights, set(tokens))
        for s, tokens in zip(source.sentences, sentence_tokens, strict=True)
    }
    words = set(tokenize([f"{source.hit.title} {source.abstract}"])[0])
    missing = [w for t, w in weights.items() if not found(t, words)]
    return Support(
        max(shares.values(), default=0.0),
        similarity,
        max((shares[s.index] for s in numbered), default=0.0),
        term_coverage(weights, words),
        max(missing, default=0.0) / math.log((max(papers, 1) + 1) / 0.5),
        names_missing,
    )
