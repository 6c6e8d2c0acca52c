"""Ingest: load, split, diff against Chroma, embed and store, then update the keyword index.

Chunk ids derive from the paper id and its content hash, so ingest is idempotent: unchanged
papers cost one lookup, changed ones are replaced, and a killed run is completed by the next.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

from rag.keyword import KeywordIndex, Row, make_rows
from rag.load import Paper, Skipped, find_files, load_file
from rag.split import Chunk, Chunker, Sentence
from rag.store import VectorStore

log = logging.getLogger(__name__)
PAPERS_PER_GROUP = 256  # papers diffed against Chroma per request
Progress = Callable[[int, int], None]  # (texts embedded, texts to embed so far)


@dataclass
class IngestReport:
    """What an ingest did, paper by paper."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks_written: int = 0
    sentences_written: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped "
            f"({self.chunks_written} chunks, {self.sentences_written} sentences written"
            f" in {self.seconds:.2f} s)"
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["skipped"] = [asdict(s) for s in self.skipped]
        return data


Source = str | Path | Paper


def iter_papers(sources: Source | Iterable[Source], report: IngestReport) -> Iterator[Paper]:
    """Papers from paths and Paper objects alike; files' problems go to `report.skipped`.

    Missing or unsupported paths raise `LoadError` here, before anything is written.
    """
    if isinstance(sources, str | Path | Paper):
        sources = [sources]
    sources = list(sources)
    files = find_files(s for s in sources if not isinstance(s, Paper))

    def papers_in_files() -> Iterator[Paper]:
        for path in files:
            collection = load_file(path)
            report.skipped.extend(collection.skipped)
            yield from collection.papers

    return chain((s for s in sources if isinstance(s, Paper)), papers_in_files())


def unique(papers: Iterable[Paper], report: IngestReport) -> Iterator[Paper]:
    """The first paper with each id; later ones are reported as skipped duplicates."""
    first_source: dict[str, str] = {}
    for paper in papers:
        if paper.paper_id in first_source:
            reason = (
                f"duplicate of a paper already in this ingest (from {first_source[paper.paper_id]})"
            )
            report.skipped.append(Skipped(paper.source, f"paper {paper.paper_id}", reason))
            continue
        first_source[paper.paper_id] = paper.source
        yield paper


def batched(items: Iterable[Paper], size: int) -> Iterator[list[Paper]]:
    batch: list[Paper] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class WritePlan:
    """The writes and deletes that bring one group of papers up to date."""

    chunks: list[Chunk] = field(default_factory=list)
    sentences: list[Sentence] = field(default_factory=list)
    stale_chunks: list[str] = field(default_factory=list)
    stale_sentences: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return bool(self.chunks or self.sentences or self.stale_chunks or self.stale_sentences)


class Ingester:
    """Writes papers into the vector store and keeps the keyword index in step."""

    def __init__(
        self, store: VectorStore, keyword: KeywordIndex, chunker: Chunker, batch_size: int
    ) -> None:
        self.store = store
        self.keyword = keyword
        self.chunker = chunker
        self.batch_size = batch_size

    def ingest(
        self, sources: Source | Iterable[Source], progress: Progress | None = None
    ) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport()
        removed: set[str] = set()
        added_rows: list[Row] = []
        generation = ""
        planned = embedded = 0
        for group in batched(unique(iter_papers(sources, report), report), PAPERS_PER_GROUP):
            plan = self._plan(group, report)
            if plan.changes and not generation:
                generation = self.store.new_generation()
            planned += len(plan.sentences) + len(plan.chunks)
            # Sentences first: a paper whose chunks are all stored has all its sentences too.
            writes = ((plan.sentences, self.store.add_sentences), (plan.chunks, self.store.add))
            for items, write in writes:
                items.sort(key=lambda item: len(item.text))  # similar lengths pad less
                for start in range(0, len(items), self.batch_size):
                    batch = items[start : start + self.batch_size]
                    write(batch)
                    embedded += len(batch)
                    log.info("embedded %d/%d texts", embedded, planned)
                    if progress:
                        progress(embedded, planned)
            report.chunks_written += len(plan.chunks)
            report.sentences_written += len(plan.sentences)
            self.store.delete(plan.stale_chunks)
            self.store.delete_sentences(plan.stale_sentences)
            report.chunks_deleted += len(plan.stale_chunks)
            removed.update(plan.stale_chunks)
            added_rows += make_rows((c.chunk_id, c.text, c.metadata) for c in plan.chunks)

        if generation:
            self.keyword.update(removed, added_rows, generation)
        report.seconds = time.perf_counter() - started
        return report

    def _plan(self, papers: list[Paper], report: IngestReport) -> WritePlan:
        """What to write and delete so that Chroma holds exactly the current `papers`."""
        paper_ids = [p.paper_id for p in papers]
        chunk_ids = self.store.chunk_ids_by_paper(paper_ids)
        sentence_ids = self.store.sentence_ids_by_paper(paper_ids)
        plan = WritePlan()
        for paper in papers:
            chunks = self.chunker.split(paper)
            present = chunk_ids.get(paper.paper_id, set())
            if present == {c.chunk_id for c in chunks}:
                report.unchanged.append(paper.paper_id)
                continue
            older = {c for c in present if f"#{paper.content_hash}-" not in c}
            (report.updated if older else report.added).append(paper.paper_id)
            sentences = self.chunker.sentences(paper)
            plan.chunks += [c for c in chunks if c.chunk_id not in present]
            plan.sentences += sentences
            plan.stale_chunks += sorted(present - {c.chunk_id for c in chunks})
            current = {s.sentence_id for s in sentences}
            plan.stale_sentences += sorted(sentence_ids.get(paper.paper_id, set()) - current)
        return plan

    def remove(self, paper_id: str) -> int:
        """Delete a paper; the number of chunks deleted (0 when the paper is not indexed)."""
        chunk_ids, sentence_ids = self.store.paper_rows(paper_id)
        if chunk_ids or sentence_ids:
            generation = self.store.new_generation()
            self.store.delete(chunk_ids)
            self.store.delete_sentences(sentence_ids)
            self.keyword.update(set(chunk_ids), [], generation)
        return len(chunk_ids)
