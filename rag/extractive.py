"""The offline answerer: a real answer built from the retrieved abstracts' own sentences.

Sentences are scored by the embedding model (their vectors are stored at ingest) together
with keyword overlap, and cited by source number. No generative model is involved.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rag.context import Source
from rag.keyword import tokenize
from rag.store import StoredSentence

Kind = Literal["list", "compare", "fact"]
LIST_QUESTION = re.compile(
    r"^\s*(?:which|what)\s+(?:papers?|works?|studies|articles?)\s+"
    r"(?:in (?:the|this) collection\s+)?(?P<rest>.+?)\s*\??\s*$",
    re.IGNORECASE,
)
OTHER_LIST_QUESTION = re.compile(
    r"\b(?:list|find|show|any)\b.{0,20}\bpapers?\b|^\s*(?:are there|is there)\b.{0,10}\bpapers?\b",
    re.IGNORECASE,
)
COMPARE_QUESTION = re.compile(
    r"\b(?:compare|comparison|versus|vs\.?|differ|difference|differences|contrast)\b", re.IGNORECASE
)
NUMERIC_QUESTION = re.compile(
    r"\b(?:how (?:many|much|fast|long|large|big|often|well|accurate|good|quickly)|by how"
    r"|what (?:accuracy|percentage"
    r"|score|speed-?up|number|rate|size|improvement))\b",
    re.IGNORECASE,
)
INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b.{0,40}\b(?:instructions?|prompts?|rules)\b"
    r"|\bsystem prompt\b|\byou are now\b|\brespond only with\b",
    re.IGNORECASE,
)
# What a "how accurate / how fast / how many" question measures, and how a sentence states it.
MEASURES = [
    (
        re.compile(r"\baccura|\bprecis|\berror rate", re.I),
        re.compile(r"accura|precision|recall|\bf1\b|%", re.I),
    ),
    (
        re.compile(r"\bhow (?:fast|quickly)|\bspeed", re.I),
        re.compile(r"fast|speed|latenc|throughput|\d\s*[x\u00d7]", re.I),
    ),
    (re.compile(r"\bhow (?:many|much|often|large|big)|\bnumber of", re.I), re.compile(r"\d")),
]
MEASURE_BONUS = 0.2
DEFINITION_BONUS = 0.1  # "what is X": prefer the sentence that introduces X
NOT_AN_ANSWER = re.compile(r"https?://|github\.com|\b(?:code|data)\b.{0,30}\bavailable\b", re.I)
DEFINITION_QUESTION = re.compile(r"^\s*what (?:is|are|does)\b", re.IGNORECASE)
DEFINING_SENTENCE = re.compile(
    r"\b(?:we|this (?:paper|work))\s+(?:propose|introduce|present|develop)", re.IGNORECASE
)
GENERIC_VERBS = {
    "address",
    "study",
    "use",
    "propose",
    "discuss",
    "examine",
    "investigate",
    "consider",
    "explore",
    "tackle",
    "cover",
    "mention",
    "describe",
    "present",
    "introduce",
    "analyze",
    "analyse",
    "are",
    "deal",
    "focus",
    "work",
    "look",
}
ACRONYM = re.compile(r"\b[A-Za-z]*[A-Z0-9][a-z]*[A-Z0-9][A-Za-z0-9-]*\b")
SEMANTIC_WEIGHT, KEYWORD_WEIGHT, NUMBER_BONUS = 0.7, 0.3, 0.1
SECOND_SENTENCE = 0.9  # a second sentence is quoted when it scores this close to the first


@dataclass(frozen=True)
class Quote:
    source: Source
    sentence: StoredSentence
    score: float


def question_kind(question: str) -> Kind:
    if COMPARE_QUESTION.search(question):
        return "compare"
    if LIST_QUESTION.match(question) or OTHER_LIST_QUESTION.search(question):
        return "list"
    return "fact"


def search_query(question: str) -> str:
    """What to search for: a "which papers ..." question without its "which papers"."""
    match = LIST_QUESTION.match(question)
    return match.group("rest") if match else question


def without_generic_verbs(text: str) -> str:
    """ "address reward overoptimization" -> "reward overoptimization"."""
    words = text.split()
    while len(words) > 1 and words[0].lower() in GENERIC_VERBS | {"on", "with", "about"}:
        words = words[1:]
    return " ".join(words)


def topic_of(question: str) -> str:
    """What a question asks about, for a lead line or an abstention."""
    match = LIST_QUESTION.match(question)
    if not match:
        return f'"{question.strip().rstrip("?")}"'
    return without_generic_verbs(match.group("rest"))


def coverage(query: str, source: Source) -> float:
    """The share of the query's keywords (stemmed) found in the paper's title and abstract."""
    terms = set(tokenize([without_generic_verbs(query)])[0])
    if not terms:
        return 0.0
    found = set(tokenize([f"{source.hit.title} {source.abstract}"])[0])
    return len(terms & found) / len(terms)


def named_papers(
    question: str, sources: list[Source], paper_frequency: Callable[[str], int]
) -> list[Source]:
    """Sources the question names: by a title's short name ("Lyra: ..."), a rare acronym, or
    two words of its title that at most two papers in the collection use ("live nowcasting")."""
    named = []
    lowered = f" {question.casefold()} "
    rare = {t for t in tokenize([question])[0] if 0 < paper_frequency(t) <= 2}
    acronyms = set(ACRONYM.findall(question))
    carriers: dict[str, list[Source]] = {a: [] for a in acronyms}
    for source in sources:
        text = f"{source.hit.title} {source.abstract}"
        for acronym in acronyms:
            if re.search(rf"\b{re.escape(acronym)}\b", text):
                carriers[acronym].append(source)
    for source in sources:
        short, colon, _ = source.hit.title.partition(":")
        by_title = colon and len(short.split()) <= 3 and f" {short.casefold()} " in lowered
        by_acronym = any(source in c and len(c) <= 2 for c in carriers.values())
        by_rare_words = len(rare & set(tokenize([source.hit.title])[0])) >= 2
        if by_title or by_acronym or by_rare_words:
            named.append(source)
    return named


def relevant_sources(
    query: str, sources: list[Source], named: list[Source], min_score: float, margin: float
) -> list[Source]:
    """The sources an answer should use; none when the collection has nothing on `query`.

    Named papers always count. Otherwise the best hit must reach `min_score`; then a paper
    counts when it scores within `margin` of the best, or holds every keyword of the query
    and scores at least `min_score - margin`.
    """
    if not sources or (not named and sources[0].hit.score < min_score):
        return named
    floor = max(min_score, sources[0].hit.score - margin)
    return [
        s
        for s in sources
        if s in named
        or s.hit.score >= floor
        or (s.hit.score >= min_score - margin and coverage(query, s) == 1.0)
    ]


def shared_terms(terms: set[str], tokens: set[str]) -> int:
    """Query terms found among the tokens; stems that share 5+ leading letters count too
    (the stemmer leaves "accurate" as "accur" but "accuracy" as "accuraci")."""
    return sum(
        1
        for term in terms
        if term in tokens or (len(term) >= 5 and any(t.startswith(term[:5]) for t in tokens))
    )


def quotes(query: str, query_vector: np.ndarray, sources: list[Source]) -> list[Quote]:
    """Every sentence of `sources`, scored against the query, best first."""
    terms = set(tokenize([query])[0])
    numeric = bool(NUMERIC_QUESTION.search(query))
    candidates = [(s, sentence) for s in sources for sentence in s.sentences]
    candidates = [
        (s, sentence)
        for s, sentence in candidates
        if not INJECTION.search(sentence.text) and not NOT_AN_ANSWER.search(sentence.text)
    ]
    definition = bool(DEFINITION_QUESTION.search(query))
    stated = [states for asks, states in MEASURES if asks.search(query)]
    if not candidates:
        return []
    token_sets = tokenize([sentence.text for _, sentence in candidates])
    scored = []
    for (source, sentence), tokens in zip(candidates, token_sets, strict=True):
        overlap = shared_terms(terms, set(tokens)) / len(terms) if terms else 0.0
        score = SEMANTIC_WEIGHT * float(sentence.vector @ query_vector) + KEYWORD_WEIGHT * overlap
        if numeric and re.search(r"\d", sentence.text):
            score += NUMBER_BONUS
            if any(states.search(sentence.text) for states in stated):
                score += MEASURE_BONUS
        if definition and DEFINING_SENTENCE.search(sentence.text):
            score += DEFINITION_BONUS
        scored.append(Quote(source, sentence, score))
    return sorted(scored, key=lambda q: -q.score)


def cite(sentence: str, number: int) -> str:
    """The sentence with `[number]` before its final punctuation."""
    if sentence[-1:] in ".!?":
        return f"{sentence[:-1]} [{number}]{sentence[-1]}"
    return f"{sentence} [{number}]"


def best_for(source: Source, ranked: list[Quote], limit: int = 2) -> list[Quote]:
    own = [q for q in ranked if q.source is source]
    return [q for q in own[:limit] if q.score >= own[0].score * SECOND_SENTENCE] if own else []


def joined(quotes_: list[Quote]) -> str:
    ordered = sorted(quotes_, key=lambda q: q.sentence.index)
    return " ".join(cite(q.sentence.text, q.source.number) for q in ordered)


def lead_line(question: str, count: int) -> str:
    match = LIST_QUESTION.match(question)
    noun = "paper" if count == 1 else "papers"
    if not match:
        return f"{count} {noun} in the collection {'is' if count == 1 else 'are'} relevant:"
    verb, _, rest = match.group("rest").partition(" ")
    if count == 1:
        irregular = {"are": "is", "do": "does", "have": "has"}
        if verb.lower() in irregular:
            verb = irregular[verb.lower()]
        elif verb.endswith("y") and verb[-2:-1] not in "aeiou":
            verb = verb[:-1] + "ies"
        elif verb.endswith(("s", "sh", "ch", "x", "z", "o")):
            verb += "es"
        else:
            verb += "s"
    return f"{count} {noun} in the collection {verb} {rest}:".replace("  ", " ")


def extractive_answer(
    question: str,
    query: str,
    query_vector: np.ndarray,
    relevant: list[Source],
    named: list[Source],
) -> str:
    """Markdown citing sources by their numbers: a list, per-paper blocks, or the fact itself.

    `question` is what the user asked (it sets the form); `query` is what sentences are scored
    against (the standalone question, which carries a follow-up's subject).
    """
    ranked = quotes(query, query_vector, relevant)
    kind = question_kind(question)
    if kind == "list":
        lines = [lead_line(question, len(relevant)), ""]
        for source in relevant:
            chosen = best_for(source, ranked)
            lines.append(f"- **{source.hit.title}**: {joined(chosen)}")
        return "\n".join(lines)
    if kind == "compare":
        compared = named if len(named) >= 2 else relevant[:3]
        blocks = [f"Comparing {len(compared)} papers:"]
        for source in compared:
            blocks.append(f"**{source.hit.title}**\n{joined(best_for(source, ranked))}")
        return "\n\n".join(blocks)
    top = ranked[0]
    chosen = best_for(top.source, ranked)
    return f"**{top.source.hit.title}**: {joined(chosen)}"
