"""Answers about the collection as a whole: its themes, and what its listing fields say (code
links, authors, upvotes, comments, keywords, dates, counts), each paper cited as any answer's.
A field the collection does not record is said to be missing, never guessed from the text."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from rag.answer import EXTRACTIVE, Answer, Citation, Outcome
from rag.catalog import Catalog, CatalogPaper
from rag.load import Paper
from rag.scope import CollectionDays, CollectionQuestion, fold
from rag.search import Filters, Hit
from rag.split import split_sentences
from rag.themes import Theme, find_themes

LISTED_AT_MOST = 100  # papers cited in one overview; a bigger one shows each theme's first
THEME_SHOWS = 8
FEW = 3  # a question on this many papers asks for each one's count, not the most
PROLIFIC_SHOWN = 10  # authors listed by their number of papers
# How each field is named in an answer: (what one paper has, what several have, what the
# collection lacks).
FIELD_WORDS = {
    "github": ("links a GitHub repository", "link a GitHub repository", "code links"),
    "project_page": ("links a project page", "link a project page", "project pages"),
    "upvotes": ("has upvotes", "have upvotes", "upvotes"),
    "comments": ("has comments", "have comments", "comment counts"),
    "keywords": ("has AI keywords", "have AI keywords", "keywords"),
    "authors": ("lists its authors", "list their authors", "authors"),
    "published": ("has a date", "have a date", "dates"),
}
TopicPapers = Callable[[str, Filters | None], list[str]]


def days_of(papers: list[CatalogPaper]) -> CollectionDays:
    return CollectionDays(
        published=tuple(sorted({p.paper.date for p in papers if p.paper.date})),
        listed=tuple(sorted({p.paper.listing.listed for p in papers if p.paper.listing.listed})),
    )


def field_value(paper: Paper, field: str) -> object:
    """The paper's value of a listing field; None or empty when it has none."""
    listing = paper.listing
    return {
        "github": listing.github,
        "project_page": listing.project_page,
        "upvotes": listing.upvotes,
        "comments": listing.comments,
        "keywords": listing.keywords,
        "authors": paper.authors,
        "published": paper.date,
    }.get(field)


def has(value: object) -> bool:
    return value is not None and value != "" and value != ()


def lead_sentence(paper: Paper, terms: list[str] = ()) -> str:
    """The abstract's sentence that holds most of `terms`, else its first."""
    sentences = split_sentences(paper.abstract) or [paper.abstract]
    return (
        max(sentences, key=lambda s: sum(t in s.lower() for t in terms)) if terms else sentences[0]
    )


class Cited:
    """The papers an answer cites, numbered in the order it first cites them."""

    def __init__(self) -> None:
        self.citations: list[Citation] = []
        self.numbers: dict[str, int] = {}
        self.sources: list[Hit] = []  # the papers cited, as the sources of the answer

    def __call__(self, paper: Paper, terms: list[str] = ()) -> str:
        if paper.paper_id not in self.numbers:
            number = len(self.citations) + 1
            self.numbers[paper.paper_id] = number
            quote = lead_sentence(paper, list(terms))
            self.sources.append(
                Hit(
                    paper.paper_id,
                    paper.title,
                    0.0,
                    quote,
                    paper.url,
                    list(paper.authors),
                    paper.date,
                    paper.source,
                )
            )
            self.citations.append(
                Citation(
                    number,
                    paper.paper_id,
                    paper.title,
                    paper.url,
                    quote,
                    score=0.0,
                    abstract=paper.abstract,
                    relevance=1.0,
                    authors=list(paper.authors),
                    date=paper.date,
                    listing=paper.listing,
                )
            )
        return f"[{self.numbers[paper.paper_id]}]"


def day_words(question: CollectionQuestion) -> str:
    if not question.date_from:
        return ""
    verb = "listed" if question.dated == "listed" else "dated"
    if question.date_from == question.date_to:
        return f" {verb} {question.date_from}"
    return f" {verb} {question.date_from} to {question.date_to}"


def themes_text(themes: list[Theme], cite: Cited, total: int) -> str:
    shown_each = None if total <= LISTED_AT_MOST else THEME_SHOWS
    lines = []
    for number, theme in enumerate(themes, 1):
        papers = theme.papers[:shown_each] if shown_each else theme.papers
        listed = "; ".join(f"{p.title} {cite(p, theme.terms)}" for p in papers)
        more = len(theme.papers) - len(papers)
        tail = f"; and {more} more" if more > 0 else ""
        count = f"{len(theme.papers)} paper{'s' if len(theme.papers) != 1 else ''}"
        lines.append(f"{number}. **{theme.name}** ({count}): {listed}{tail}.")
    return "\n".join(lines)


class CollectionAnswerer:
    """Writes the answers to collection questions over one collection's catalog. `topic_papers`
    finds the papers on a topic (the answer chain's relevance decision)."""

    def __init__(self, catalog: Catalog, topic_papers: TopicPapers) -> None:
        self.catalog = catalog
        self.topic_papers = topic_papers

    def themes(self, filters: Filters | None = None) -> list[Theme]:
        return find_themes(self.catalog.papers(filters))

    def filters(self, question: CollectionQuestion, asked: Filters | None) -> Filters | None:
        """The question's own days over the filters it was asked with."""
        if not question.date_from:
            return asked
        return replace(
            asked or Filters(),
            date_from=question.date_from,
            date_to=question.date_to,
            dated=question.dated,
        )

    def __call__(self, asked: str, question: CollectionQuestion, filters: Filters | None) -> Answer:
        started = time.perf_counter()
        filters = self.filters(question, filters)
        everything = self.catalog.papers()
        papers = self.catalog.papers(filters) if filters else everything
        scope_words = day_words(question)
        if question.topic:
            on_topic = set(self.topic_papers(question.topic, filters))
            papers = [p for p in papers if p.paper.paper_id in on_topic]
            scope_words = f" on {question.topic}{scope_words}"
        if question.referred:  # "which of them have code?"
            papers = [p for p in papers if p.paper.title in question.referred]
            scope_words = f" above{scope_words}"
        cite = Cited()
        if question.kind == "overview":
            text, outcome = self.overview(papers, cite, scope_words)
        else:
            text, outcome = self.listing(question, everything, papers, cite, scope_words)
        return Answer(
            question=asked,
            text=text,
            citations=cite.citations,
            sources=cite.sources,
            abstained=outcome != "answered",
            answerer=EXTRACTIVE,
            timings={"generate": time.perf_counter() - started},
            outcome=outcome,
        )

    def overview(
        self, papers: list[CatalogPaper], cite: Cited, scope_words: str
    ) -> tuple[str, Outcome]:
        if not papers:
            return f"The collection has no papers{scope_words}.", "refused"
        if len(papers) <= 3:
            listed = "\n".join(f"- {p.paper.title} {cite(p.paper)}" for p in papers)
            return f"**{len(papers)} paper(s){scope_words}:**\n\n{listed}", "answered"
        themes = find_themes(papers)
        head = f"**The {len(papers)} papers{scope_words} fall into {len(themes)} themes:**"
        return f"{head}\n\n{themes_text(themes, cite, len(papers))}", "answered"

    def listing(
        self,
        question: CollectionQuestion,
        everything: list[CatalogPaper],
        papers: list[CatalogPaper],
        cite: Cited,
        scope_words: str,
    ) -> tuple[str, Outcome]:
        field = question.field or "published"
        total = len(everything)
        if field == "count":
            if not papers:
                return f"The collection has no papers{scope_words}.", "refused"
            listed = "\n".join(f"- {p.paper.title} {cite(p.paper)}" for p in papers)
            head = f"**{len(papers)} of the collection's {total} papers{scope_words}"
            return (
                f"{head}:**\n\n{listed}"
                if scope_words
                else f"**The collection holds {total} papers:**\n\n{listed}"
            ), "answered"
        has_words, have_words, lacks_words = FIELD_WORDS[field]
        if not any(has(field_value(p.paper, field)) for p in everything):
            return (
                f"The collection records no {lacks_words}: none of its {total} papers has"
                f" {'any' if field != 'published' else 'a date'}, so this cannot be answered"
                " from it.",
                "not_stated",
            )
        if field == "authors":
            return self.by_authors(question, everything, papers, cite, scope_words)
        if field in ("upvotes", "comments"):
            return self.most(field, papers, cite, scope_words, question.ranking)
        if field == "published":
            if not papers:
                return f"No paper of the collection is{scope_words or ' dated'}.", "refused"
            lines = [
                f"- {p.paper.title} {cite(p.paper)} ({p.paper.date or 'no date'})"
                for p in sorted(papers, key=lambda p: (p.paper.date, p.paper.title))
            ]
            return f"**{len(papers)} paper(s){scope_words}:**\n\n" + "\n".join(lines), "answered"
        with_field = [p for p in papers if has(field_value(p.paper, field))]
        among = f"the {len(papers)} papers{scope_words}" if scope_words else f"the {total} papers"
        if question.lacking:
            without = [p for p in papers if p not in with_field]
            if not without:
                return f"Every one of {among} {has_words}.", "refused"
            lines = [f"- {p.paper.title} {cite(p.paper)}" for p in without]
            head = f"**{len(without)} of {among} do not {have_words}:**"
            return f"{head}\n\n" + "\n".join(lines), "answered"
        if not with_field:
            return f"None of {among} {has_words}.", "refused"
        lines = []
        for p in with_field:
            value = field_value(p.paper, field)
            shown = "; ".join(value) if isinstance(value, tuple) else str(value)
            lines.append(f"- {p.paper.title} {cite(p.paper)}: {shown}")
        verb = has_words if len(with_field) == 1 else have_words
        head = f"**{len(with_field)} of {among} {verb}:**"
        return f"{head}\n\n" + "\n".join(lines), "answered"

    def by_authors(
        self,
        question: CollectionQuestion,
        everything: list[CatalogPaper],
        papers: list[CatalogPaper],
        cite: Cited,
        scope_words: str,
    ) -> tuple[str, Outcome]:
        if question.unknown_author:
            return (
                f"No paper of the collection lists an author named {question.unknown_author}.",
                "refused",
            )
        if not (question.authors or question.topic or question.referred):
            # "which author has the most papers?"
            return self.prolific(papers, cite, scope_words)
        if not question.authors:  # "who wrote ...": the authors of the papers it is about
            if not papers:
                return f"The collection has no paper{scope_words}.", "refused"
            lines = [
                f"- {p.paper.title} {cite(p.paper)}: {', '.join(p.paper.authors) or 'none listed'}"
                for p in papers[:5]
            ]
            return "\n".join(lines), "answered"
        wanted = {fold(a) for a in question.authors}
        found = [p for p in papers if wanted & {fold(a) for a in p.paper.authors}]
        names = " or ".join(question.authors)
        if not found:
            return f"No paper{scope_words} lists {names} among its authors.", "refused"
        lines = [f"- {p.paper.title} {cite(p.paper)}: {', '.join(p.paper.authors)}" for p in found]
        head = f"**{len(found)} paper(s){scope_words} by {names}:**"
        return f"{head}\n\n" + "\n".join(lines), "answered"

    def prolific(
        self, papers: list[CatalogPaper], cite: Cited, scope_words: str
    ) -> tuple[str, Outcome]:
        """The authors with more than one paper, the most first."""
        by_author: dict[str, list[Paper]] = {}
        for p in papers:
            for name in p.paper.authors:
                by_author.setdefault(name, []).append(p.paper)
        several = sorted(
            ((name, own) for name, own in by_author.items() if len(own) > 1),
            key=lambda item: (-len(item[1]), item[0]),
        )[:PROLIFIC_SHOWN]
        if not several:
            return (
                f"No author has more than one paper{scope_words}: {len(by_author)} authors"
                f" wrote the {len(papers)} papers.",
                "refused",
            )
        lines = [
            f"- {name} ({len(own)} papers): " + "; ".join(f"{p.title} {cite(p)}" for p in own)
            for name, own in several
        ]
        return f"**The authors with the most papers{scope_words}:**\n\n" + "\n".join(
            lines
        ), "answered"

    def most(
        self, field: str, papers: list[CatalogPaper], cite: Cited, scope_words: str, ranking: bool
    ) -> tuple[str, Outcome]:
        """The papers with the most upvotes or comments; each one's count when the question
        is about a few papers and asks for no ranking."""
        counted = [(field_value(p.paper, field), p) for p in papers]
        counted = [(c, p) for c, p in counted if c is not None]
        noun = "upvotes" if field == "upvotes" else "comments"
        if not counted:
            return f"No paper{scope_words} has {noun} recorded.", "refused"
        if len(counted) <= FEW and not ranking:  # "how many upvotes does X have?"
            lines = [f"- {p.paper.title} {cite(p.paper)}: {c} {noun}" for c, p in counted]
            return "\n".join(lines), "answered"
        values = {c for c, _ in counted}
        if len(values) == 1:
            (value,) = values
            return (
                f"All {len(counted)} papers{scope_words} have {value} {noun}: none stands out.",
                "refused",
            )
        counted.sort(key=lambda cp: (-cp[0], cp[1].paper.title))
        lines = [f"- {p.paper.title} {cite(p.paper)}: {c} {noun}" for c, p in counted[:5]]
        return f"**The most {noun}{scope_words}:**\n\n" + "\n".join(lines), "answered"


def collection_authors(papers: list[CatalogPaper]) -> list[str]:
    return sorted({a for p in papers for a in p.paper.authors})
