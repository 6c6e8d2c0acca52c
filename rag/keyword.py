"""Keyword search: an incremental BM25 index kept beside Chroma, with the metadata to filter on.

Local Chroma has no sparse index, so this one is derived from the chunks in Chroma. It is a
list of immutable segments (postings by term, chunk lengths, chunk ids and their papers)
plus tombstones for deleted chunks, so adding 100 papers to 100k writes one small segment
instead of re-indexing everything. Small segments are merged as they pile up, like a binary
counter, up to MERGE_LIMIT rows, so a merge's memory does not grow with the collection.
Scores are BM25 (Lucene's idf, k1=1.5, b=0.75) over the live chunks, computed at query time
from the postings, so they never go stale as segments come and go.

The index is saved under the data directory with the Chroma `generation` it reflects; when
the two differ (another machine wrote to a shared server, an ingest was killed, the files
were lost or damaged) it is rebuilt from Chroma.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import shutil
import uuid
import zipfile
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN
from scipy import sparse

from rag.load import normalize_title

log = logging.getLogger(__name__)
STEMMER = Stemmer.Stemmer("english")
STOPWORDS = frozenset(STOPWORDS_EN) | {"paper", "papers", "which", "what", "how", "does", "do"}
FORMAT_VERSION = 4
K1, B = 1.5, 0.75
COMPACT_SHARE = 0.25  # drop tombstoned rows once this share of stored chunks is deleted
LOAD_TRIES = 5  # reads of a state that another process keeps replacing
MERGE_LIMIT = 65_536  # rows; merges stop there, so a merge's memory does not grow with N
ChunkText = tuple[str, str, dict]  # (chunk_id, text, Chroma metadata)


HYPHENATED = re.compile(r"\b([A-Za-z]+)-([A-Za-z]+)\b")


def with_joined_compounds(text: str) -> str:
    """ "auto-encoder" also as "autoencoder", so either spelling finds the other."""
    joined = [a + b for a, b in HYPHENATED.findall(text)]
    return f"{text} {' '.join(joined)}" if joined else text


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-cased, English stop words removed, Snowball-stemmed words."""
    if not texts:
        return []
    return bm25s.tokenize(
        [with_joined_compounds(t) for t in texts],
        stopwords=list(STOPWORDS),
        stemmer=STEMMER,
        return_ids=False,
        show_progress=False,
    )


@dataclass(frozen=True)
class PaperInfo:
    """What the keyword index knows of a paper, for filters and listings."""

    paper_id: str
    title: str
    source: str
    authors: str  # casefolded, "; "-joined
    date_num: int  # YYYYMMDD, 0 when unknown
    listed_num: int = 0  # the day on Daily Papers, YYYYMMDD; 0 when unknown

    @classmethod
    def from_metadata(cls, metadata: dict) -> PaperInfo:
        return cls(
            paper_id=str(metadata["paper_id"]),
            title=str(metadata.get("title") or ""),
            source=str(metadata.get("source") or ""),
            authors=str(metadata.get("authors") or "").casefold(),
            date_num=int(metadata.get("date_num") or 0),
            listed_num=int(metadata.get("listed_num") or 0),
        )


@dataclass(frozen=True)
class Segment:
    """An immutable block of chunks. Term ids are global; `terms` are the ones it introduced."""

    name: str
    chunk_ids: list[str]
    papers: list[PaperInfo]
    paper_of_row: np.ndarray  # int32, index into `papers`
    lengths: np.ndarray  # float32, tokens per chunk
    postings: sparse.csc_matrix  # rows x vocabulary-size-when-written, term counts
    terms: list[str]

    def __len__(self) -> int:
        return len(self.chunk_ids)

    @classmethod
    def build(cls, chunks: list[ChunkText], vocab: dict[str, int]) -> Segment:
        """Tokenize `chunks`; unseen terms are added to `vocab`."""
        first_new = len(vocab)
        papers: dict[str, int] = {}
        infos: list[PaperInfo] = []
        paper_of_row, lengths, rows, cols, counts = [], [], [], [], []
        for row, ((_, _, metadata), tokens) in enumerate(
            zip(chunks, tokenize([text for _, text, _ in chunks]), strict=True)
        ):
            info = PaperInfo.from_metadata(metadata)
            if info.paper_id not in papers:
                papers[info.paper_id] = len(infos)
                infos.append(info)
            paper_of_row.append(papers[info.paper_id])
            lengths.append(len(tokens))
            for term, count in Counter(tokens).items():
                rows.append(row)
                cols.append(vocab.setdefault(term, len(vocab)))
                counts.append(count)
        postings = sparse.csc_matrix(
            (np.array(counts, np.float32), (np.array(rows, np.int32), np.array(cols, np.int32))),
            shape=(len(chunks), len(vocab)),
        )
        terms = list(vocab)[first_new:] if len(vocab) > first_new else []
        return cls(
            name=uuid.uuid4().hex,
            chunk_ids=[chunk_id for chunk_id, _, _ in chunks],
            papers=infos,
            paper_of_row=np.array(paper_of_row, np.int32),
            lengths=np.array(lengths, np.float32),
            postings=postings,
            terms=terms,
        )

    @classmethod
    def merge(cls, parts: list[Segment], dead: dict[str, set[int]]) -> Segment:
        """One segment holding the live rows of adjacent `parts`, oldest first."""
        width = parts[-1].postings.shape[1]
        postings, chunk_ids, papers, paper_of_row, lengths = [], [], [], [], []
        for part in parts:
            gone = sorted(dead.get(part.name, ()))
            live = np.ones(len(part), bool)
            live[gone] = False
            matrix = part.postings
            if matrix.shape[1] < width:  # a wider view that shares the arrays, not a copy
                indptr = np.pad(matrix.indptr, (0, width - matrix.shape[1]), mode="edge")
                matrix = sparse.csc_matrix(
                    (matrix.data, matrix.indices, indptr), shape=(len(part), width)
                )
            postings.append(matrix[live] if gone else matrix)
            chunk_ids += [c for c, alive in zip(part.chunk_ids, live, strict=True) if alive]
            paper_of_row.append(part.paper_of_row[live] + len(papers))
            papers += part.papers
            lengths.append(part.lengths[live])
        used, rows_paper = np.unique(np.concatenate(paper_of_row), return_inverse=True)
        return cls(
            name=uuid.uuid4().hex,
            chunk_ids=chunk_ids,
            papers=[papers[i] for i in used],  # drops papers now gone
            paper_of_row=rows_paper.astype(np.int32),
            lengths=np.concatenate(lengths),
            postings=postings[0] if len(postings) == 1 else sparse.vstack(postings, "csc"),
            terms=[term for part in parts for term in part.terms],
        )

    def save(self, directory: Path) -> None:
        postings = self.postings
        np.savez(
            directory / f"{self.name}.npz",
            indptr=postings.indptr,
            indices=postings.indices,
            counts=postings.data,
            lengths=self.lengths,
            paper_of_row=self.paper_of_row,
        )
        described = {
            "chunk_ids": self.chunk_ids,
            "papers": [list(vars(p).values()) for p in self.papers],
            "terms": self.terms,
            "width": postings.shape[1],
        }
        (directory / f"{self.name}.json").write_text(json.dumps(described))

    @classmethod
    def load(cls, directory: Path, name: str) -> Segment:
        described = json.loads((directory / f"{name}.json").read_text())
        with np.load(directory / f"{name}.npz") as arrays:
            rows = len(described["chunk_ids"])
            postings = sparse.csc_matrix(
                (arrays["counts"], arrays["indices"], arrays["indptr"]),
                shape=(rows, described["width"]),
            )
            segment = cls(
                name=name,
                chunk_ids=described["chunk_ids"],
                papers=[PaperInfo(*p) for p in described["papers"]],
                paper_of_row=arrays["paper_of_row"],
                lengths=arrays["lengths"],
                postings=postings,
                terms=described["terms"],
            )
        if not (len(segment.lengths) == len(segment.paper_of_row) == rows):
            raise ValueError(f"segment {name} has mismatched lengths")
        return segment


class Snapshot:
    """Read-side arrays over all segments at one moment; rebuilt after every change."""

    def __init__(self, segments: list[Segment], dead: dict[str, set[int]]) -> None:
        self.segments = segments
        self.offsets = np.cumsum([0] + [len(s) for s in segments])
        papers: dict[str, int] = {}
        infos: list[PaperInfo] = []
        row_paper = []
        for segment in segments:  # a later segment's record of a paper wins
            mapping = []
            for info in segment.papers:
                if info.paper_id in papers:
                    infos[papers[info.paper_id]] = info
                else:
                    papers[info.paper_id] = len(infos)
                    infos.append(info)
                mapping.append(papers[info.paper_id])
            row_paper.append(np.array(mapping, np.int32)[segment.paper_of_row])
        self.papers = infos
        self.row_paper = np.concatenate(row_paper) if row_paper else np.zeros(0, np.int32)
        lengths = np.concatenate([s.lengths for s in segments]) if segments else np.zeros(0)
        self.lengths = lengths.astype(np.float32)
        self._set_live(dead)

    def with_dead(self, dead: dict[str, set[int]]) -> Snapshot:
        """The same segments with other tombstones; only what depends on them is redone."""
        changed = copy.copy(self)
        for depends_on_live in ("live_papers", "first_rows_by_title"):
            changed.__dict__.pop(depends_on_live, None)
        changed._set_live(dead)
        return changed

    def _set_live(self, dead: dict[str, set[int]]) -> None:
        self.live = np.ones(int(self.offsets[-1]), bool)
        for segment, start in zip(self.segments, self.offsets, strict=False):
            self.live[start + np.array(sorted(dead.get(segment.name, ())), np.int64)] = False
        self.count = int(self.live.sum())
        self.average_length = float(self.lengths[self.live].mean()) if self.count else 1.0

    @cached_property
    def live_papers(self) -> np.ndarray:
        """Indices into `papers` of the papers that still have a chunk."""
        return np.unique(self.row_paper[self.live])

    @cached_property
    def paper_dates(self) -> np.ndarray:
        return np.array([p.date_num for p in self.papers], np.int32)

    @cached_property
    def listed_dates(self) -> np.ndarray:
        return np.array([p.listed_num for p in self.papers], np.int32)

    @cached_property
    def author_text(self) -> tuple[str, np.ndarray]:
        """All papers' authors in one string, and where each paper's part starts."""
        parts = [p.authors for p in self.papers]
        starts = np.cumsum([0] + [len(a) + 1 for a in parts[:-1]]) if parts else np.zeros(0)
        return "\x00".join(parts), starts

    def postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Global row numbers and counts of a term, over every segment."""
        rows, counts = [], []
        for segment, start in zip(self.segments, self.offsets, strict=False):
            matrix = segment.postings
            if term_id < matrix.shape[1]:
                begin, end = matrix.indptr[term_id], matrix.indptr[term_id + 1]
                rows.append(matrix.indices[begin:end] + start)
                counts.append(matrix.data[begin:end])
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return np.concatenate(rows), np.concatenate(counts)

    def chunk_id(self, row: int) -> str:
        index = bisect_right(self.offsets, row) - 1
        return self.segments[index].chunk_ids[row - int(self.offsets[index])]

    @cached_property
    def row_by_chunk(self) -> dict[str, int]:
        return {
            chunk_id: int(start) + row
            for segment, start in zip(self.segments, self.offsets, strict=False)
            for row, chunk_id in enumerate(segment.chunk_ids)
        }

    @cached_property
    def first_rows_by_title(self) -> dict[str, list[int]]:
        """Normalized title -> the first live row of each paper with that title."""
        first: dict[int, int] = {}
        for row in np.flatnonzero(self.live):
            first.setdefault(int(self.row_paper[row]), int(row))
        by_title: dict[str, list[int]] = {}
        for paper, row in first.items():
            by_title.setdefault(normalize_title(self.papers[paper].title), []).append(row)
        return by_title

    def papers_by_author(self, author: str) -> np.ndarray:
        """Indices of papers with `author` (casefolded) inside an author's name."""
        text, starts = self.author_text
        found, at = [], text.find(author)
        while at >= 0:
            found.append(at)
            at = text.find(author, at + 1)
        return np.unique(np.searchsorted(starts, found, side="right") - 1)


class KeywordIndex:
    """BM25 over chunk texts, saved in `directory` as segments and a state file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.generation = ""
        self.segments: list[Segment] = []
        self.dead: dict[str, set[int]] = {}  # tombstones: segment name -> rows
        self.vocab: dict[str, int] = {}
        self.snapshot = Snapshot([], {})
        self._loaded_stamp: tuple[int, int, int] | None = None  # state.json last read

    def __len__(self) -> int:
        """The number of live chunks."""
        return self.snapshot.count

    def load(self) -> bool:
        """Read the saved index; False (with a warning if something was there) when it is
        missing, from an older version, or damaged. Another process may save while this
        reads: segments already in memory are kept (they never change), and a segment that
        a newer save removed sends it back to the newer state."""
        for _ in range(LOAD_TRIES):
            try:
                return self._load()
            except FileNotFoundError:
                if self._state_stamp() == self._loaded_stamp:  # nothing newer: lost files
                    break
        if self.directory.exists() and any(self.directory.iterdir()):
            log.warning("keyword index in %s is incomplete; it will be rebuilt", self.directory)
        return False

    def _state_stamp(self) -> tuple[int, int, int] | None:
        try:
            status = (self.directory / "state.json").stat()
        except OSError:
            return None
        return status.st_ino, status.st_mtime_ns, status.st_size

    def _load(self) -> bool:
        stamp = self._state_stamp()
        if stamp is not None and stamp == self._loaded_stamp:
            return True  # what is in memory is what was saved last
        self._loaded_stamp = stamp
        try:
            state = json.loads((self.directory / "state.json").read_text())
            if state.get("format") != FORMAT_VERSION:
                raise ValueError(f"format {state.get('format')}, expected {FORMAT_VERSION}")
            known = {s.name: s for s in self.segments}
            segments = [
                known.get(name) or Segment.load(self.directory, name) for name in state["segments"]
            ]
            dead = {name: set(rows) for name, rows in state["dead"].items()}
            vocab = {term: i for i, term in enumerate(t for s in segments for t in s.terms)}
            if segments and segments[-1].postings.shape[1] > len(vocab):
                raise ValueError("the vocabulary is shorter than the postings")
        except FileNotFoundError:
            self._loaded_stamp = None
            raise
        except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile) as exc:
            log.warning(
                "keyword index in %s is unreadable (%s); it will be rebuilt", self.directory, exc
            )
            self._loaded_stamp = None
            return False
        self.segments, self.dead, self.vocab = segments, dead, vocab
        self.generation = state["generation"]
        self.snapshot = Snapshot(segments, dead)
        return True

    def clear(self, generation: str) -> None:
        """Make the index empty (and saved) at `generation`."""
        self.segments, self.dead, self.vocab = [], {}, {}
        self._commit(generation)

    def rebuild(self, pages: Iterable[list[ChunkText]], generation: str) -> None:
        """Replace the whole index with the chunks in `pages`, taken a page at a time."""
        self.segments, self.dead, self.vocab = [], {}, {}
        for page in pages:
            self._append(page)
        self._commit(generation)

    def update(self, removed: Iterable[str], added: list[ChunkText], generation: str) -> None:
        """Drop the chunks in `removed` and any older copies of `added`, append `added`."""
        gone = set(removed) | {chunk_id for chunk_id, _, _ in added}
        if gone:
            dead = {name: set(rows) for name, rows in self.dead.items()}
            for segment in self.segments:
                for row, chunk_id in enumerate(segment.chunk_ids):
                    if chunk_id in gone:
                        dead.setdefault(segment.name, set()).add(row)
            self.dead = dead
        if added:
            self._append(added)
        stored = sum(len(s) for s in self.segments)
        if sum(map(len, self.dead.values())) > COMPACT_SHARE * stored:
            self.segments = [
                Segment.merge([s], self.dead) if self.dead.get(s.name) else s for s in self.segments
            ]
            self.dead = {}
        self._commit(generation)

    def _append(self, chunks: list[ChunkText]) -> None:
        """Add a segment, then merge the newest ones while the older of the last two is at
        most twice the newer (a binary counter), up to MERGE_LIMIT rows."""
        self.segments = [*self.segments, Segment.build(chunks, self.vocab)]
        while len(self.segments) > 1:
            *rest, older, newer = self.segments
            if len(older) > 2 * len(newer) or len(older) + len(newer) > MERGE_LIMIT:
                return
            self.segments = [*rest, Segment.merge([older, newer], self.dead)]
            self.dead = {k: v for k, v in self.dead.items() if k not in (older.name, newer.name)}

    def _commit(self, generation: str) -> None:
        """Save new segments, then switch `state.json` to them in one rename; a kill before
        the rename leaves the previous index whole."""
        self.generation = generation
        self.directory.mkdir(parents=True, exist_ok=True)
        names = {s.name for s in self.segments}
        for segment in self.segments:
            if not (self.directory / f"{segment.name}.json").exists():
                segment.save(self.directory)
        state = {
            "format": FORMAT_VERSION,
            "generation": generation,
            "segments": [s.name for s in self.segments],
            "dead": {name: sorted(rows) for name, rows in self.dead.items() if rows},
        }
        partial = self.directory / f"state.{uuid.uuid4().hex}.part"
        partial.write_text(json.dumps(state))
        os.replace(partial, self.directory / "state.json")
        self._loaded_stamp = self._state_stamp()
        for path in self.directory.iterdir():  # replaced segments, older formats' files
            if path.name != "state.json" and path.name.split(".")[0] not in names:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        if [s.name for s in self.snapshot.segments] == state["segments"]:
            self.snapshot = self.snapshot.with_dead(self.dead)  # a removal: papers unchanged
        else:
            self.snapshot = Snapshot(self.segments, self.dead)

    def chunk_ids(self, mask: np.ndarray | None = None) -> list[str]:
        """The live chunk ids, or those `mask` (from `mask()`) lets through."""
        snapshot = self.snapshot
        rows = np.flatnonzero(snapshot.live if mask is None else mask)
        return [snapshot.chunk_id(int(row)) for row in rows]

    def rows_of(self, chunk_ids: list[str]) -> list[int]:
        """The row of each chunk id, to index a `mask()` with; -1 for unknown ids."""
        row_by_chunk = self.snapshot.row_by_chunk
        return [row_by_chunk.get(chunk_id, -1) for chunk_id in chunk_ids]

    def papers(self) -> list[PaperInfo]:
        """The papers that have at least one chunk."""
        snapshot = self.snapshot
        return [snapshot.papers[i] for i in snapshot.live_papers]

    @property
    def paper_count(self) -> int:
        return len(self.snapshot.live_papers)

    def paper_frequency(self, term: str) -> int:
        """In how many papers the (stemmed) term occurs."""
        if term not in self.vocab:
            return 0
        snapshot = self.snapshot
        rows, _ = snapshot.postings(self.vocab[term])
        rows = rows[snapshot.live[rows]]
        return len(np.unique(snapshot.row_paper[rows]))

    def papers_by_author(self, author: str) -> list[str]:
        snapshot = self.snapshot
        found = set(snapshot.papers_by_author(author).tolist())
        return [snapshot.papers[i].paper_id for i in snapshot.live_papers if i in found]

    def titled(self, text: str, mask: np.ndarray | None) -> list[tuple[str, str]]:
        """(paper id, a chunk id) of the papers whose whole title `text` is, within `mask`."""
        snapshot = self.snapshot
        rows = snapshot.first_rows_by_title.get(normalize_title(text), [])
        return [
            (snapshot.papers[snapshot.row_paper[row]].paper_id, snapshot.chunk_id(row))
            for row in rows
            if mask is None or mask[row]
        ]

    def mask(
        self, dates: tuple[int, int] | None, source: str, author: str, listed: bool = False
    ) -> np.ndarray:
        """Which rows pass the filters: dates inclusive (the Daily Papers day when `listed`,
        else the paper's date), exact source, author substring."""
        snapshot = self.snapshot
        accepted = np.ones(len(snapshot.papers), bool)
        if dates:
            days = snapshot.listed_dates if listed else snapshot.paper_dates
            accepted &= (days >= dates[0]) & (days <= dates[1])
        if source:
            accepted &= np.array([p.source == source for p in snapshot.papers], bool)
        if author:
            by_author = np.zeros(len(snapshot.papers), bool)
            by_author[snapshot.papers_by_author(author)] = True
            accepted &= by_author
        return accepted[snapshot.row_paper] & snapshot.live

    def search(self, query: str, n: int, mask: np.ndarray | None) -> list[tuple[str, float]]:
        """Up to `n` (chunk id, BM25 score) with a positive score, best first; `mask` is a
        boolean row filter from `mask()`."""
        snapshot = self.snapshot
        term_ids = [self.vocab[t] for t in tokenize([query])[0] if t in self.vocab]
        if n <= 0 or not term_ids or not snapshot.count:
            return []
        scores = np.zeros(len(snapshot.live), np.float32)
        norm = K1 * (1 - B + B * snapshot.lengths / snapshot.average_length)
        for term_id in term_ids:
            rows, counts = snapshot.postings(term_id)
            live = snapshot.live[rows]
            rows, counts = rows[live], counts[live]
            frequency = len(rows)
            idf = np.log(1 + (snapshot.count - frequency + 0.5) / (frequency + 0.5))
            scores[rows] += idf * counts / (counts + norm[rows])
        if mask is not None:
            scores[~mask] = 0
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > n:
            candidates = candidates[np.argpartition(-scores[candidates], n - 1)[:n]]
        ranked = candidates[np.argsort(-scores[candidates], kind="stable")]
        return [(snapshot.chunk_id(int(row)), float(scores[row])) for row in ranked]
