"""The offline answerer: a real answer built from the retrieved abstracts' own sentences.

Which sentences answer the question is learned from the labelled bank (rag/models/
sentences.json, trained by eval/train_models.py): each sentence's cosine with the question,
the asked terms it holds (weighted by rarity), its place and role in the abstract (what the
problem is, what is proposed, what was found, a number), each weighed by the question's
intent, so "how does X work?" quotes the sentences that say how, and "what did X find?" its
results. As many sentences are quoted as the model finds likely to answer, up to a few.
No generative model is involved.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

from rag import learned
from rag.answer import Outcome
from rag.context import Source
from rag.intent import MEASURES, Intent
from rag.keyword import tokenize
from rag.relevance import (
    ACRONYM,
    DEFINING_SENTENCE,
    QUANTITY,
    defining_windows,
    found,
    introduces,
    title_head,
)
from rag.store import StoredSentence

LIST_QUESTION = re.compile(
    r"^\s*(?:which|what)\s+(?:papers?|works?|studies|articles?)\s+"
    r"(?:in (?:the|this) collection\s+)?(?P<rest>.+?)\s*\??\s*$",
    re.IGNORECASE,
)
# A question about two papers without a comparison word: "X and Y both ...: what does each
# add?", "which reports more, X or Y?", "does the X paper ..., and does the Y paper ...?".
# One that names both papers needs no such word.
TWO_WAY_QUESTION = re.compile(
    r"\b(?:both|each|either|which one|which of the two|between)\b"
    r"|\bor\s+[\w'-]+(?:\s+[\w'-]+){0,3}\s*\?\s*$"
    r"|,?\s+and (?:does|did|do|is|are|was|what|how|which) the\b",
    re.IGNORECASE,
)
INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b.{0,40}\b(?:instructions?|prompts?|rules)\b"
    r"|\bsystem prompt\b|\byou are now\b|\brespond only with\b",
    re.IGNORECASE,
)
# The roles a sentence plays in an abstract: what is proposed, what was found, the background.
PROPOSAL = re.compile(
    r"\b(?:we|this (?:paper|work|study))\s+(?:\w+\s+){0,2}?(?:propose|introduce|present"
    r"|develop|design|build|formulate)",
    re.IGNORECASE,
)
FINDING = re.compile(
    r"\b(?:we|this (?:paper|work|study)|our (?:method|approach|model|framework|results?"
    r"|experiments?|analysis))\s+(?:\w+\s+){0,2}?(?:show|find|demonstrate|prove|establish"
    r"|reveal|observe|achieve|outperform|improve|reduce|obtain)"
    r"|\b(?:outperforms?|achieves?|surpass(?:es)?|yields?)\b"
    r"|\b(?:results|experiments|evaluations?|analys[ie]s|studies|findings)\b[^.;]{0,60}?"
    r"\b(?:show|demonstrate|indicate|reveal|suggest|confirm)",
    re.IGNORECASE,
)
BACKGROUND = re.compile(
    r"^(?:however|although|while|despite|recent(?:ly)?|existing|prior|previous|traditional"
    r"|conventional|current|many|most)\b|\bet al\.|\b(?:suffers?|struggles?"
    r"|remains? (?:a |an )?(?:challeng|open|difficult|unclear)|(?:is|are) (?:often|typically"
    r"|usually|widely|commonly)|has (?:been|become)|have (?:been|become)|limited by)",
    re.IGNORECASE,
)
NOT_AN_ANSWER = re.compile(r"https?://|github\.com|\b(?:code|data)\b.{0,30}\bavailable\b", re.I)
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
QUOTED_QUESTION_CHARS = 80  # a longer question is not repeated in an abstention
LATEX_ESCAPE = re.compile(r"\\([%&_#$])")  # "50\%" in an abstract's source text
BRACKETED_NUMBER = re.compile(r"\[(\d+(?:[,\u2013-]\s*\d+)*)\]")
MOST_QUOTED = 4  # sentences quoted from one paper
# Sentences are chosen by the expected F-beta against those that answer, with recall weighed
# this many times precision: a reader misses an answering sentence left out more than she
# minds one more sentence of the same abstract (tuned on the bank's train halves: keyword hit
# 0.71 -> 0.77 and 0.77 -> 0.83, at 90 words an answer instead of 60).
RECALL_WEIGHT = 2.0
SHORT_LIST = 2  # a list this short quotes two sentences a paper, a longer one one


@dataclass(frozen=True)
class Scoring:
    """What sentences are scored against: the question's embedding, that of its words
    without the named papers' names, and its asked terms weighted by rarity."""

    vector: np.ndarray
    asked_vector: np.ndarray
    term_weights: dict[str, float]


@dataclass(frozen=True)
class Quote:
    """A sentence of a source, and the chance that it answers the question."""

    source: Source
    sentence: StoredSentence
    chance: float


def sentence_features(
    question: str, intent: Intent, scoring: Scoring, source: Source
) -> list[dict[str, float]]:
    """The sentence model's evidence for each sentence of `source`: its cosine with the
    question (and how far behind the paper's best it is), the share of the asked terms'
    rarity it holds, its place in the abstract, its role (a proposal, a finding, background,
    a definition, a number, the measure a "how fast / how accurate" question asks about),
    and each of these again under the question's intent's name, so that the model weighs
    them by intent."""
    sentences = source.sentences
    if not sentences:
        return []
    term_weights = scoring.term_weights
    total = sum(term_weights.values())
    cosines = [float(s.vector @ scoring.vector) for s in sentences]
    asked = [float(s.vector @ scoring.asked_vector) for s in sentences]
    best = max(cosines)
    order = sorted(range(len(sentences)), key=lambda i: -cosines[i])
    rank = {i: position for position, i in enumerate(order, 1)}
    measures = [states for asks, states in MEASURES if asks.search(question)]
    last = max(len(sentences) - 1, 1)
    rows = []
    for i, (sentence, tokens) in enumerate(
        zip(sentences, tokenize([s.text for s in sentences]), strict=True)
    ):
        text, held = sentence.text, set(tokens)
        overlap = sum(w for t, w in term_weights.items() if found(t, held)) / total if total else 0
        row = {
            "cosine": cosines[i],
            "behind": best - cosines[i],
            "asked_cosine": asked[i],
            "asked_behind": max(asked) - asked[i],
            "cosine_rank": 1 / rank[i],
            "overlap": overlap,
            "position": i / last,
            "first": float(i == 0),
            "last": float(i == len(sentences) - 1),
            "length": min(len(text.split()), 60) / 60,
            "number": float(bool(QUANTITY.search(text))),
            "measure": float(any(states.search(text) for states in measures)),
            "proposal": float(bool(PROPOSAL.search(text))),
            "finding": float(bool(FINDING.search(text))),
            "background": float(bool(BACKGROUND.search(text))),
            "defining": float(bool(DEFINING_SENTENCE.search(text))),
        }
        rows.append(row | {f"{intent}_{key}": value for key, value in row.items()})
    return rows


def quotes(question: str, intent: Intent, scoring: Scoring, sources: list[Source]) -> list[Quote]:
    """Every quotable sentence of `sources` with its chance of answering the question, best
    first. Sentences that look like instructions, or code and data links, are never quoted."""
    ranked = []
    for source in sources:
        rows = sentence_features(question, intent, scoring, source)
        if not rows:
            continue
        chances = learned.model("sentences").probabilities(rows)
        ranked += [
            Quote(source, sentence, float(chance))
            for sentence, chance in zip(source.sentences, chances, strict=True)
            if not INJECTION.search(sentence.text) and not NOT_AN_ANSWER.search(sentence.text)
        ]
    return sorted(ranked, key=lambda q: -q.chance)


def chosen(ranked: list[Quote], source: Source, most: int = MOST_QUOTED) -> list[Quote]:
    """The sentences of `source` an answer quotes: its likeliest, as many as maximise the
    expected F-beta (`RECALL_WEIGHT`) against the sentences that answer, up to `most`."""
    own = [q for q in ranked if q.source is source]
    return own[: learned.best_cut([q.chance for q in own], most, RECALL_WEIGHT)]


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
    """What a question asks about, for a lead line or an abstention: the topic of a "which
    papers" question, a short question quoted, or "this question"."""
    match = LIST_QUESTION.match(question)
    if match:
        return without_generic_verbs(match.group("rest"))
    question = question.strip().rstrip("?")
    return f'"{question}"' if len(question) <= QUOTED_QUESTION_CHARS else "this question"


def plain(text: str) -> str:
    """Lower-cased words and digits only, single-spaced, padded: for containment tests."""
    words = re.findall(r"[^\W_]+", text.casefold())
    return f" {' '.join(words)} "


def names_title(question: str, title: str) -> bool:
    """Whether the question names the paper by its title or the title's head, the part
    before ":" or "?" ("Lyra", "On-Policy or Off-Policy Learning"). A head of up to three
    words must appear as written ("Lyra", not "video generation models")."""
    head = title_head(title)
    if plain(title) in plain(question):
        return True
    if head == title.strip() or not head:
        return False
    if len(head.split()) >= 4:
        return plain(head) in plain(question)
    return re.search(rf"(?<![\w-]){re.escape(head)}(?![\w-])", question) is not None


def named_papers(
    question: str,
    sources: list[Source],
    paper_frequency: Callable[[str], int],
    listing: bool = False,
) -> list[Source]:
    """Sources the question names: by title or its head ("Lyra: ..."), an acronym that at
    most two papers introduce, or, unless it asks for a list ("Which papers study
    multi-armed bandits?" names a topic, not a paper), two words of its title that at most
    two papers in the collection use ("live nowcasting")."""
    named = []
    rare = {t for t in tokenize([question])[0] if 0 < paper_frequency(t) <= 2}
    acronyms = set(ACRONYM.findall(question))
    carriers: dict[str, list[Source]] = {a: [] for a in acronyms}
    for source in sources:
        for acronym in acronyms:
            if introduces(source, acronym):
                carriers[acronym].append(source)
    typed = typed_names(question)
    for source in sources:
        title = source.hit.title
        by_title = names_title(question, title)
        by_typed_name = any(
            name in typed and all(paper_frequency(t) <= 2 for t in tokenize([name])[0])
            for name in coined_names(source)
        )
        by_acronym = any(
            source in papers and len(papers) <= 2 and len(acronym) >= 3
            for acronym, papers in carriers.items()
        )
        by_rare_words = not listing and len(rare & set(tokenize([title])[0])) >= 2
        if by_title or by_acronym or by_rare_words or by_typed_name:
            named.append(source)
    return sorted(named, key=lambda source: mention_position(question, source))


def compact(name: str) -> str:
    """A name as typed in any case, with or without its hyphens: "X-Tree" -> "xtree"."""
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def coined_names(source: Source) -> frozenset[str]:
    """The names a paper gives itself that are no English words, compacted: its title's head
    when that is one word ("KaliBench", "X-Tree"), and the acronyms or coined words of its
    title or of the words just after "we propose", "called" ("SAF", "MEDIDA-KS"). Three
    characters at least, or a letter and a digit ("B4")."""
    return names_coined(source.hit.title, tuple(s.text for s in source.sentences))


@lru_cache(maxsize=4096)
def names_coined(title: str, sentences: tuple[str, ...]) -> frozenset[str]:
    """`coined_names` of a paper by its title and sentences, kept for the papers asked about
    most recently (about 2 ms a question for 20 candidates otherwise)."""
    head = title_head(title)
    found_names = set(ACRONYM.findall(title))
    if head != title.strip() and len(head.split()) == 1:
        found_names.add(head)
    for window in defining_windows(sentences):
        found_names.update(ACRONYM.findall(window))
    coined = {compact(n) for n in found_names if not ordinary(n)}
    return frozenset(n for n in coined if len(n) >= 3 or re.fullmatch(r"[a-z]\d", n))


@cache
def english_words() -> frozenset[str]:
    """Webster's Second International's 234,000 words, lower-cased (the english-words
    package; read once, in about 0.1 s)."""
    from english_words import get_english_words_set

    return frozenset(get_english_words_set(["web2"], lower=True))


def ordinary(name: str) -> bool:
    """Whether a name is also English: a word ("Honeycomb", "LADDER") or words joined
    ("Self-Consistency", "Master-Mind"). Typed in lower case, it names nothing; "kalibench",
    "x-tree" or "medida ks" can only be the paper's."""
    words = english_words()
    parts = [compact(p) for p in name.split("-")]
    return compact(name) in words or all(len(p) >= 2 and p in words for p in parts)


def typed_names(question: str) -> set[str]:
    """The question's words and word pairs compacted, as a name may be typed in a casual
    question: "kalibench", "xtree", "medida ks"."""
    words = re.findall(r"[^\W_]+(?:-[^\W_]+)*", question)
    return {compact(w) for w in words} | {compact(a + b) for a, b in itertools.pairwise(words)}


def mention_position(question: str, source: Source) -> int:
    """Where the question first names the paper (by its title's head or an acronym it
    introduces), so that papers are answered in the order asked; the end when unknown."""
    lowered = question.casefold()
    head = title_head(source.hit.title).casefold()
    names = [head] + [a.casefold() for a in ACRONYM.findall(question) if introduces(source, a)]
    return min((i for i in map(lowered.find, names) if i >= 0), default=len(question))


def as_quoted(sentence: str) -> str:
    """A sentence as answers quote it: its bracketed numbers ("Sachs et al. [2022]") in
    parentheses, so that only citations are `[n]`, and LaTeX escapes ("50\\%") undone."""
    return LATEX_ESCAPE.sub(r"\1", BRACKETED_NUMBER.sub(r"(\1)", sentence))


def cite(sentence: str, number: int) -> str:
    """The sentence, as quoted, with `[number]` before its final punctuation."""
    sentence = as_quoted(sentence)
    if sentence[-1:] in ".!?":
        return f"{sentence[:-1]} [{number}]{sentence[-1]}"
    return f"{sentence} [{number}]"


def joined(quotes_: list[Quote]) -> str:
    ordered = sorted(quotes_, key=lambda q: q.sentence.index)
    return " ".join(cite(q.sentence.text, q.source.number) for q in ordered)


def lead_line(question: str, count: int) -> str:
    """ "2 papers in the collection address X:", conjugated for one paper; "3 papers in the
    collection match:" when X is too long to repeat."""
    match = LIST_QUESTION.match(question)
    noun = "paper" if count == 1 else "papers"
    if not match:
        return f"{count} {noun} in the collection {'is' if count == 1 else 'are'} relevant:"
    verb, _, rest = match.group("rest").partition(" ")
    asked_plural = bool(re.match(r"^\s*\w+\s+(?:papers|works|studies|articles)\b", question, re.I))
    if count == 1 and asked_plural:
        verb = singular(verb)
    elif (count > 1 and not asked_plural) or len(rest) > QUOTED_QUESTION_CHARS:
        return f"{count} {noun} in the collection {'matches' if count == 1 else 'match'}:"
    return f"{count} {noun} in the collection {verb} {rest}:".replace("  ", " ")


def singular(verb: str) -> str:
    """ "study" -> "studies", "address" -> "addresses", "are" -> "is"."""
    irregular = {"are": "is", "do": "does", "have": "has"}
    if verb.lower() in irregular:
        return irregular[verb.lower()]
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    return verb + "s"


@dataclass(frozen=True)
class Draft:
    """An extractive answer, and whether it answers, says the abstract does not state the
    fact, or offers the closest paper."""

    text: str
    outcome: Outcome = "answered"


def extractive_answer(
    question: str,
    intent: Intent,
    scoring: Scoring,
    relevant: list[Source],
    named: list[Source],
    unstated: list[Source],
    closest: bool = False,
) -> Draft:
    """Markdown citing sources by their numbers: a list, per-paper blocks, or the answer from
    one paper; `closest` when no paper answers the question directly and `relevant[0]` is
    the nearest.

    `question` is what the user asked (it sets the form) and `scoring` what sentences are
    scored against. `relevant` is ordered as the answer should lead: an answer from one paper
    comes from the first. Two or more named papers are answered one by one; `unstated` are
    named papers whose abstract does not state what was asked.
    """
    ranked = quotes(question, intent, scoring, relevant)
    top = relevant[0]
    if closest and len(relevant) > 1:
        lines = ["No paper here says this directly. The closest are:", ""]
        for source in relevant:
            lines.append(f"- **{source.hit.title}**: {joined(chosen(ranked, source, 1))}")
        return Draft("\n".join(lines), outcome="closest")
    if closest:
        return Draft(
            f"No paper here says this directly. The closest is **{top.hit.title}**:"
            f" {joined(chosen(ranked, top, SHORT_LIST))}",
            outcome="closest",
        )
    if intent == "list" and (len(relevant) > len(named) or not named):
        lines = [lead_line(question, len(relevant)), ""]
        most = SHORT_LIST if len(relevant) <= SHORT_LIST else 1
        for source in relevant:
            lines.append(f"- **{source.hit.title}**: {joined(chosen(ranked, source, most))}")
        return Draft("\n".join(lines))
    two_way = bool(TWO_WAY_QUESTION.search(question)) and len(relevant) >= 2
    if len(named) >= 2 or two_way or (intent == "compare" and len(relevant) >= 2):
        compared = named if len(named) >= 2 else relevant[:2]
        blocks = [f"Comparing {len(compared)} papers:"] if intent == "compare" else []
        for source in compared:
            blocks.append(f"**{source.hit.title}**\n{joined(chosen(ranked, source, 2))}")
        return Draft("\n\n".join(blocks))
    quoted = chosen(ranked, top)
    if top in unstated:
        return Draft(
            f"The abstract of **{top.hit.title}** does not state this. The nearest it"
            f" comes: {joined(quoted[:1])}",
            outcome="not_stated",
        )
    return Draft(f"**{top.hit.title}**: {joined(quoted)}")
