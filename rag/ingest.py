"""Ingest: load, split, diff against Chroma, embed and store, and update the keyword index.

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

from rag.keyword import KeywordIndex
from rag.load import Paper, Skipped, find_files, read_file
from rag.split import Chunk, Chunker, version_prefix
from rag.store import VectorStore

log = logging.getLogger(__name__)
PAPERS_PER_GROUP = 256  # papers diffed, written and keyword-indexed together
CHUNKS_PER_WRITE = 64  # chunks embedded and upserted per Chroma request
Progress = Callable[[int, int], None]  # (chunks embedded, chunks to embed so far)


class PaperNotFound(LookupError):
    """No paper with the given id is in the collection."""

    def __init__(self, paper_id: str) -> None:
        super().__init__(f"no paper with id {paper_id!r} in the collection")


@dataclass
class IngestReport:
    """What an ingest did, paper by paper."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # files of other types in walked folders
    chunks_written: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0

    @property
    def nothing_ingested(self) -> bool:
        """Every record was skipped: nothing was added, updated or found unchanged."""
        return bool(self.skipped) and not (self.added or self.updated or self.unchanged)

    def summary(self) -> str:
        counts = (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped"
        )
        if self.ignored:
            kind = "file of another type" if len(self.ignored) == 1 else "files of other types"
            counts += f", {len(self.ignored)} {kind} ignored"
        return f"{counts} ({self.chunks_written} chunks written in {self.seconds:.2f} s)"

    def skipped_lines(self, limit: int = 3) -> list[str]:
        """The skipped records for a person, each line to follow "skipped ": per file and
        reason the first `limit`, then one line with how many more ("97 more lines of
        x.jsonl: not valid UTF-8 text")."""
        groups: dict[tuple[str, str], list[Skipped]] = {}
        for skipped in self.skipped:
            groups.setdefault((skipped.source, skipped.reason), []).append(skipped)
        lines = []
        for (source, reason), group in groups.items():
            lines += map(str, group[:limit])
            more = len(group) - limit
            if more > 0:
                kind = group[limit].location.split()[0]  # line, record or paper
                lines.append(f"{more} more {kind}{'s' * (more > 1)} of {source}: {reason}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["skipped"] = [asdict(s) for s in self.skipped]
        return data


Source = str | Path | Paper


def iter_papers(sources: Source | Iterable[Source], report: IngestReport) -> Iterator[Paper]:
    """Papers from paths and Paper objects alike, streamed; files' problems go to
    `report.skipped`, files of other types in folders to `report.ignored`. Missing or
    unsupported paths raise `LoadError` here, before anything is written."""
    if isinstance(sources, str | Path | Paper):
        sources = [sources]
    sources = list(sources)
    files, ignored = find_files(s for s in sources if not isinstance(s, Paper))
    for path in ignored:
        log.info("ignored %s: not a collection file type", path)
        report.ignored.append(str(path))

    def papers_in_files() -> Iterator[Paper]:
        for path in files:
            for item in read_file(path):
                if isinstance(item, Skipped):
                    report.skipped.append(item)
                else:
                    yield item

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
    stale_chunks: list[str] = field(default_factory=list)
    stale_sentences: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return bool(self.chunks or self.stale_chunks or self.stale_sentences)


class Ingester:
    """Writes papers into the vector store and keeps the keyword index in step.

    Papers stream through in groups: each group is diffed against Chroma, embedded, written,
    and appended to the keyword index before the next is read, so memory stays flat however
    large the input, and a killed run loses at most the group it was writing.
    """

    def __init__(self, store: VectorStore, keyword: KeywordIndex, chunker: Chunker) -> None:
        self.store = store
        self.keyword = keyword
        self.chunker = chunker

    def ingest(
        self, sources: Source | Iterable[Source], progress: Progress | None = None
    ) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport()
        planned = embedded = 0
        for group in batched(unique(iter_papers(sources, report), report), PAPERS_PER_GROUP):
            plan = self._plan(group, report)
            if not plan.changes:
                continue
            generation = self.store.new_generation()
            planned += len(plan.chunks)
            plan.chunks.sort(key=lambda chunk: len(chunk.text))  # similar lengths pad less
            for start in range(0, len(plan.chunks), CHUNKS_PER_WRITE):
                batch = plan.chunks[start : start + CHUNKS_PER_WRITE]
                self.store.add(batch)
                embedded += len(batch)
                log.info("embedded %d/%d chunks", embedded, planned)
                if progress:
                    progress(embedded, planned)
            self.store.delete(plan.stale_chunks)
            self.store.delete_sentences(plan.stale_sentences)
            report.chunks_written += len(plan.chunks)
            report.chunks_deleted += len(plan.stale_chunks)
            added = [(c.chunk_id, c.text, c.metadata) for c in plan.chunks]
            self.keyword.update(plan.stale_chunks, added, generation)
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
            current = version_prefix(paper.paper_id, paper.content_hash)
            older = {c for c in present if not c.startswith(current)}
            (report.updated if older else report.added).append(paper.paper_id)
            plan.chunks += [c for c in chunks if c.chunk_id not in present]
            plan.stale_chunks += sorted(present - {c.chunk_id for c in chunks})
            stale = sentence_ids.get(paper.paper_id, set())
            plan.stale_sentences += sorted(s for s in stale if not s.startswith(current))
        return plan

    def remove(self, paper_id: str) -> int:
        """Delete a paper; the number of chunks deleted. Raises `PaperNotFound`."""
        chunk_ids, sentence_ids = self.store.paper_rows(paper_id)
        if not (chunk_ids or sentence_ids):
            raise PaperNotFound(paper_id)
        generation = self.store.new_generation()
        self.store.delete(chunk_ids)
        self.store.delete_sentences(sentence_ids)
        self.keyword.update(chunk_ids, [], generation)
        return len(chunk_ids)
