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
from rag.relevance import ACRONYM, DEFINING_SENTENCE, QUANTITY, found, introduces, title_head
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
# A question about two papers without a comparison word: "X and Y both ...: what does each
# add?", "which reports more, X or Y?", "does the X paper ..., and does the Y paper ...?".
# One that names both papers needs no such word.
TWO_WAY_QUESTION = re.compile(
    r"\b(?:both|each|either|which one|which of the two|between)\b"
    r"|\bor\s+[\w'-]+(?:\s+[\w'-]+){0,3}\s*\?\s*$"
    r"|,?\s+and (?:does|did|do|is|are|was|what|how|which) the\b",
    re.IGNORECASE,
)
COMPARE_QUESTION = re.compile(
    r"\b(?:compare|comparison|versus|vs\.?|differ|difference|differences|contrast)\b", re.IGNORECASE
)
NUMERIC_QUESTION = re.compile(
    r"\b(?:how (?:many|much|fast|long|large|big|often|well|accurate|good|quickly|far|high|low)"
    r"|by how|by what|what (?:\w+ )?(?:accuracy|percentage|fraction|share|proportion|factor"
    r"|score|speed-?up|number|rate|ratio|size|improvement|gain|reduction|margin|amount"
    r"|count|error|latency)s?)\b",
    re.IGNORECASE,
)
# "Which reports the larger gain?": a comparison of numbers.
COMPARATIVE = re.compile(
    r"\b(?:larger|largest|higher|highest|bigger|biggest|greater|greatest|lower|lowest|smaller"
    r"|smallest|faster|fastest|more|most|less|fewer)\s+(?:\w+\s+)?(?:gains?|improvements?"
    r"|speed-?ups?|accuracy|scores?|reductions?|boosts?|margins?|drops?|errors?|rates?|savings?)\b",
    re.IGNORECASE,
)
# A question whose answer is a count or a share: its answer has a number ("how long" or "how
# fast" may be answered in words: "in less than a day").
COUNT_QUESTION = re.compile(
    r"\b(?:how (?:many|much)|number of|by how much|by what factor|what (?:percentage|fraction"
    r"|share|proportion))\b",
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
    (
        re.compile(
            r"\bby how much|\bhow much\b.*\b(?:reduc|shorten|improv|increas|decreas|sav|cut"
            r"|lower|rais|boost|gain)|\bwhat (?:fraction|share|percentage|proportion)",
            re.I,
        ),
        re.compile(r"\d\s*(?:%|\u00d7|x\b|times|fold|percent)|\bhalf\b", re.I),
    ),
    (re.compile(r"\bhow (?:many|much|often|large|big)|\bnumber of", re.I), QUANTITY),
]
MEASURE_BONUS = 0.2
DEFINITION_BONUS = 0.1  # "what is X": prefer the sentence that introduces X
# What a paper proposes, what it finds, or the setting it starts from: a question about the
# paper quotes the first two, and a question about its findings the second, before background.
PROPOSAL = re.compile(
    r"\b(?:we|this (?:paper|work|study))\s+(?:\w+\s+){0,2}?(?:propose|introduce|present"
    r"|develop|design|build|formulate)",
    re.IGNORECASE,
)
STRONG_PROPOSAL = re.compile(r"\b(?:propose|introduce)", re.IGNORECASE)
FINDING = re.compile(
    r"\b(?:we|this (?:paper|work|study)|our (?:method|approach|model|framework|results?"
    r"|experiments?|analysis))\s+(?:\w+\s+){0,2}?(?:show|find|demonstrate|prove|establish"
    r"|reveal|observe|achieve|outperform|improve|reduce|obtain)"
    r"|\b(?:outperforms?|achieves?|surpass(?:es)?|yields?)\b"
    r"|\b(?:results|experiments|evaluations?|analys[ie]s|studies|findings)\b[^.;]{0,60}?"
    r"\b(?:show|demonstrate|indicate|reveal|suggest|confirm)",
    re.IGNORECASE,
)
ASKS_PROPOSAL = re.compile(
    r"\b(?:propos\w*|introduc\w*|contribut\w*|offer|present|main idea|key idea|novel\w*)\b"
    r"|^\s*what (?:is|are|does|do)\s+\S+(?:\s+\S+)?\s*(?:do)?\s*\??\s*$",
    re.IGNORECASE,
)
ASKS_FINDING = re.compile(
    r"\b(?:find|finding|findings|result|results|show|shows|conclu\w*|learn|discover\w*"
    r"|reveal\w*|outcome|takeaway)\b",
    re.IGNORECASE,
)
BACKGROUND = re.compile(
    r"^(?:however|although|while|despite|recent(?:ly)?|existing|prior|previous|traditional"
    r"|conventional|current|many|most)\b|\bet al\.|\b(?:suffers?|struggles?"
    r"|remains? (?:a |an )?(?:challeng|open|difficult|unclear)|(?:is|are) (?:often|typically"
    r"|usually|widely|commonly)|has (?:been|become)|have (?:been|become)|limited by)",
    re.IGNORECASE,
)
CONTRIBUTION_BONUS, FINDING_BONUS, BACKGROUND_PENALTY = 0.05, 0.15, 0.1
NOT_AN_ANSWER = re.compile(r"https?://|github\.com|\b(?:code|data)\b.{0,30}\bavailable\b", re.I)
DEFINITION_QUESTION = re.compile(r"^\s*what (?:is|are|does)\b", re.IGNORECASE)
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
    question: str, sources: list[Source], paper_frequency: Callable[[str], int]
) -> list[Source]:
    """Sources the question names: by title or its head ("Lyra: ..."), an acronym that at
    most two papers introduce, or two words of its title that at most two papers in the
    collection use ("live nowcasting")."""
    named = []
    rare = {t for t in tokenize([question])[0] if 0 < paper_frequency(t) <= 2}
    acronyms = set(ACRONYM.findall(question))
    carriers: dict[str, list[Source]] = {a: [] for a in acronyms}
    for source in sources:
        for acronym in acronyms:
            if introduces(source, acronym):
                carriers[acronym].append(source)
    for source in sources:
        title = source.hit.title
        by_title = names_title(question, title)
        by_acronym = any(
            source in papers and len(papers) <= 2 and len(acronym) >= 3
            for acronym, papers in carriers.items()
        )
        by_rare_words = len(rare & set(tokenize([title])[0])) >= 2
        if by_title or by_acronym or by_rare_words:
            named.append(source)
    return sorted(named, key=lambda source: mention_position(question, source))


def mention_position(question: str, source: Source) -> int:
    """Where the question first names the paper (by its title's head or an acronym it
    introduces), so that papers are answered in the order asked; the end when unknown."""
    lowered = question.casefold()
    head = title_head(source.hit.title).casefold()
    names = [head] + [a.casefold() for a in ACRONYM.findall(question) if introduces(source, a)]
    return min((i for i in map(lowered.find, names) if i >= 0), default=len(question))


def quotes(
    query: str,
    query_vector: np.ndarray,
    sources: list[Source],
    term_weights: dict[str, float] | None = None,
) -> list[Quote]:
    """Every sentence of `sources`, scored against the query, best first.

    A sentence scores by meaning (cosine with the query) and by the query's terms it holds,
    each weighted by `term_weights` (rarity; equal when not given), so that the one sentence
    with a rare asked name beats several with common words.
    """
    terms = term_weights or dict.fromkeys(tokenize([query])[0], 1.0)
    total = sum(terms.values())
    numeric = bool(NUMERIC_QUESTION.search(query))
    candidates = [(s, sentence) for s in sources for sentence in s.sentences]
    candidates = [
        (s, sentence)
        for s, sentence in candidates
        if not INJECTION.search(sentence.text) and not NOT_AN_ANSWER.search(sentence.text)
    ]
    definition = bool(DEFINITION_QUESTION.search(query))
    finding = bool(ASKS_FINDING.search(query))
    stated = [states for asks, states in MEASURES if asks.search(query)]
    if not candidates:
        return []
    token_sets = tokenize([sentence.text for _, sentence in candidates])
    scored = []
    for (source, sentence), tokens in zip(candidates, token_sets, strict=True):
        held = set(tokens)
        overlap = sum(w for t, w in terms.items() if found(t, held)) / total if total else 0.0
        score = SEMANTIC_WEIGHT * float(sentence.vector @ query_vector) + KEYWORD_WEIGHT * overlap
        if numeric and QUANTITY.search(sentence.text):
            score += NUMBER_BONUS
            if any(states.search(sentence.text) for states in stated):
                score += MEASURE_BONUS
        if definition and DEFINING_SENTENCE.search(sentence.text):
            score += DEFINITION_BONUS
        if PROPOSAL.search(sentence.text) or FINDING.search(sentence.text):
            score += CONTRIBUTION_BONUS
        if finding and FINDING.search(sentence.text):
            score += FINDING_BONUS
        if BACKGROUND.search(sentence.text):
            score -= BACKGROUND_PENALTY
        scored.append(Quote(source, sentence, score))
    return sorted(scored, key=lambda q: -q.score)


def contributes(quote: Quote) -> bool:
    """Whether the sentence says what the paper proposes or finds, not only its setting."""
    text = quote.sentence.text
    return bool(PROPOSAL.search(text) or FINDING.search(text)) and not BACKGROUND.search(text)


def summary(source: Source, ranked: list[Quote], question: str) -> list[Quote]:
    """For a question on what a named paper proposes ("what does X propose?", "what is X?"):
    its best proposing sentence and its best finding; on what it finds ("what is the main
    finding of X?"): its two best findings. Empty for other questions, or when the abstract
    has no such sentence."""
    own = [q for q in ranked if q.source is source]
    findings = [q for q in own if FINDING.search(q.sentence.text)]
    if ASKS_FINDING.search(question):
        return findings[:2]
    if ASKS_PROPOSAL.search(question):
        # An abstract says what it proposes once, early: "we propose/introduce" over "we
        # present" (which also introduces results), the first such sentence over later ones.
        proposals = sorted(
            (q for q in own if PROPOSAL.search(q.sentence.text)),
            key=lambda q: (not STRONG_PROPOSAL.search(q.sentence.text), q.sentence.index),
        )
        return proposals[:1] + [q for q in findings[:1] if q not in proposals[:1]]
    return []


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


def best_for(source: Source, ranked: list[Quote], limit: int = 2) -> list[Quote]:
    own = [q for q in ranked if q.source is source]
    return [q for q in own[:limit] if q.score >= own[0].score * SECOND_SENTENCE] if own else []


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
    """An extractive answer; `not_stated` when it says the abstract does not state the fact."""

    text: str
    not_stated: bool = False


def extractive_answer(
    question: str,
    query: str,
    query_vector: np.ndarray,
    relevant: list[Source],
    named: list[Source],
    unstated: list[Source],
    term_weights: dict[str, float] | None = None,
) -> Draft:
    """Markdown citing sources by their numbers: a list, per-paper blocks, or the fact itself.

    `question` is what the user asked (it sets the form); `query` is what sentences are scored
    against (the standalone question, which carries a follow-up's subject). `relevant` is
    ordered as the answer should lead: a fact comes from the first. Two or more named papers
    are answered one by one; `unstated` are named papers whose abstract does not state what
    was asked. `term_weights` weigh the query's terms in sentence scores.
    """
    ranked = quotes(query, query_vector, relevant, term_weights)
    kind = question_kind(question)
    if kind == "list":
        lines = [lead_line(question, len(relevant)), ""]
        for source in relevant:
            chosen = best_for(source, ranked)
            lines.append(f"- **{source.hit.title}**: {joined(chosen)}")
        return Draft("\n".join(lines))
    two_way = bool(TWO_WAY_QUESTION.search(question)) and len(relevant) >= 2
    if kind == "compare" or len(named) >= 2 or two_way:
        # Two papers, unless a comparison names none ("compare the diffusion samplers").
        many = kind == "compare" and not named
        compared = named if len(named) >= 2 else relevant[: 3 if many else 2]
        blocks = [f"Comparing {len(compared)} papers:"] if kind == "compare" else []
        numbered = [q for q in ranked if QUANTITY.search(q.sentence.text)]
        for source in compared:
            chosen = best_for(source, numbered) if COMPARATIVE.search(question) else []
            blocks.append(f"**{source.hit.title}**\n{joined(chosen or best_for(source, ranked))}")
        return Draft("\n\n".join(blocks))
    top = relevant[0]
    chosen = summary(top, ranked, question) if top in named else []
    if COUNT_QUESTION.search(question) or COMPARATIVE.search(question):
        # A number was asked: the sentences that give one, when the paper has any.
        chosen = chosen or best_for(top, [q for q in ranked if QUANTITY.search(q.sentence.text)])
    chosen = chosen or best_for(top, ranked)
    if top not in named and not any(contributes(q) for q in chosen):
        # A paper found from a description: say what it proposes, not only its problem.
        chosen += [q for q in ranked if q.source is top and PROPOSAL.search(q.sentence.text)][:1]
    if top in unstated:
        return Draft(
            f"The abstract of **{top.hit.title}** does not state this. The nearest it"
            f" comes: {joined(chosen[:1])}",
            not_stated=True,
        )
    return Draft(f"**{top.hit.title}**: {joined(chosen)}")
