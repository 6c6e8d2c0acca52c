"""Side-by-side comparisons: a table with one row per paper and a column for each part of an
abstract a reader compares (the problem, the approach, the data or setting, the main result).
Each cell quotes the sentence of that paper's abstract that states the part, cited; a cell is
empty where the abstract says nothing of it."""

from __future__ import annotations

import re

import numpy as np

from rag.answer import EXTRACTIVE, Answer, Citation
from rag.context import Source
from rag.scope import fold

COLUMNS = ("Problem", "Approach", "Data or setting", "Main result")
# What says that a sentence states each part, in the words abstracts use for it.
ROLE_CUES = {
    "Problem": re.compile(
        r"\b(?:challeng|problem|suffer|limitation|however|remain|struggl|difficult|costly|lack"
        r"|bottleneck|fail|issue|expensive|hard to|gap|despite|often|typically|require|prone"
        r"|unclear|little is known|open question|poorly)",
        re.I,
    ),
    "Approach": re.compile(
        r"\bwe (?:propose|introduce|present|develop|design|build|formulate|study|investigate"
        r"|analy[sz]e|show how|use|leverage|train|apply|extend|derive|provide)|\bour (?:method"
        r"|approach|framework|model|algorithm|system)|\b(?:called|named|dubbed)\b"
        r"|\bby (?:using|combining|introducing|learning|training|leveraging)\b|\bconsists? of\b",
        re.I,
    ),
    "Data or setting": re.compile(
        r"\bdatasets?\b|\bbenchmarks?\b|\bexperiments?\b|\bevaluat|\bsettings?\b|\benvironments?\b"
        r"|\btested\b|\btrained on\b|\bcorpus\b|\bcorpora\b|\bsuite\b|\btasks?\b|\bdomains?\b"
        r"|\bsimulat|\breal[- ]world\b|\bacross\b",
        re.I,
    ),
    "Main result": re.compile(
        r"\boutperform|\bachiev|\bimprov|\breduc|\bsurpass|\bstate[- ]of[- ]the[- ]art|\bresults?"
        r" (?:show|demonstrat|indicat|suggest)|\bshow(?:s|ed)? that\b|\bdemonstrat|\bgains?\b"
        r"|\bspeed-?up|\bfaster\b|\bbetter\b|\bfind(?:s|ing)? that\b|\bconsistently\b"
        r"|\d+(?:\.\d+)?\s*(?:%|x\b|\u00d7|times|fold)",
        re.I,
    ),
}
ON_QUESTION = "On the question"
CELL_WORDS = 32  # a cell quotes at most this many words of its sentence


def role_scores(sentences: list[str]) -> dict[str, list[float]]:
    """How strongly each sentence states each part: its cues, and where abstracts usually say
    it (the problem first, the result last)."""
    count = len(sentences)
    scores = {}
    for column, cue in ROLE_CUES.items():
        row = []
        for index, sentence in enumerate(sentences):
            hits = len(cue.findall(sentence))
            position = index / max(count - 1, 1)
            if column == "Problem":
                hits += 0.5 * (1 - position) if hits or index == 0 else 0
            elif column == "Main result":
                hits += 0.5 * position if hits else 0
            row.append(float(hits))
        scores[column] = row
    return scores


def assign(sentences: list[str]) -> dict[str, int | None]:
    """Each column's sentence (its index), each sentence in one column at most, so that the
    columns together state their parts most strongly (an optimal assignment, scipy's); a
    column no sentence states stays empty."""
    from scipy.optimize import linear_sum_assignment

    scores = role_scores(sentences)
    matrix = np.array([scores[column] for column in COLUMNS])
    rows, picked = linear_sum_assignment(matrix, maximize=True)
    chosen: dict[str, int | None] = dict.fromkeys(COLUMNS)
    for row, index in zip(rows, picked, strict=True):
        if matrix[row, index] > 0:
            chosen[COLUMNS[row]] = int(index)
    return chosen


def cell(sentence: str, number: int) -> str:
    """A sentence as a table cell: quoted (cut at `CELL_WORDS` words), cited, without pipes."""
    words = sentence.split()
    text = " ".join(words[:CELL_WORDS]) + (" …" if len(words) > CELL_WORDS else "")
    text = text.replace("|", "/").rstrip(".")
    return f"“{text}” [{number}]"


def comparison_table(sources: list[Source], on_question: dict[int, str] | None = None) -> str:
    """The markdown table comparing `sources`, one row each. `on_question`, by source number:
    the sentence that best answers what the comparison asks about, in a column of its own
    (its sentence is not repeated in the others)."""
    on_question = on_question or {}
    columns = (ON_QUESTION, *COLUMNS) if on_question else COLUMNS
    header = "| Paper | " + " | ".join(columns) + " |"
    rule = "|" + "---|" * (len(columns) + 1)
    rows = [header, rule]
    for source in sources:
        sentences = [s.text for s in source.sentences] or [source.hit.text]
        asked = on_question.get(source.number)
        chosen = assign([s if s != asked else "" for s in sentences])
        cells = [
            cell(sentences[index], source.number) if index is not None else ""
            for index in (chosen[c] for c in COLUMNS)
        ]
        if on_question:
            cells.insert(0, cell(asked, source.number) if asked else "")
        title = source.hit.title.replace("|", "/")
        rows.append(f"| **{title}** [{source.number}] | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def short_name(title: str) -> str:
    """A title's name before its colon ("Honeycomb" of "Honeycomb: Constant-Size ..."), or
    the whole title."""
    name, colon, _ = title.partition(":")
    return name if colon and len(name.split()) <= 4 else title


def matching_title(item: str, titles: list[str]) -> str | None:
    """The one title `item` names: by the name before its colon, or as whole words of it."""
    wanted = fold(item)
    by_name = [t for t in titles if fold(short_name(t)) == wanted]
    if len(by_name) == 1:
        return by_name[0]
    pattern = re.compile(rf"(?<![\w-]){re.escape(wanted)}(?![\w-])")
    within = [t for t in titles if pattern.search(fold(t))]
    return within[0] if len(within) == 1 else None


def comparison_answer(
    question: str, sources: list[Source], on_question: dict[int, str] | None = None
) -> Answer:
    """The table as an answer, each paper cited with the sentence that answers the question
    (with an aspect), else the first its row quotes."""
    citations = []
    for source in sources:
        sentences = [s.text for s in source.sentences] or [source.hit.text]
        first = next((i for i in assign(sentences).values() if i is not None), 0)
        quote = (on_question or {}).get(source.number) or sentences[first]
        hit = source.hit
        citations.append(
            Citation(
                source.number,
                hit.paper_id,
                hit.title,
                hit.url,
                quote,
                hit.score,
                abstract=" ".join(sentences),
                relevance=1.0,
                authors=list(hit.authors),
                date=hit.date,
            )
        )
    text = f"Comparing {len(sources)} papers:\n\n{comparison_table(sources, on_question)}"
    return Answer(
        question, text, citations, False, EXTRACTIVE, {}, sources=[s.hit for s in sources]
    )
