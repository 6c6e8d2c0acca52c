"""The collection as a whole: every paper with its listing fields and its vector, for the
questions that no top-k search answers (themes, authors, code links, upvotes, dates)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag.keyword import KeywordIndex
from rag.load import Listing, Paper
from rag.search import Filters, content_hash_of, paper_of
from rag.split import version_prefix
from rag.store import VectorStore

FETCH_PAPERS = 200  # papers read from the store at a time


@dataclass(frozen=True)
class CatalogPaper:
    """One paper of the collection as ingested, with the unit mean of its chunks' vectors."""

    paper: Paper
    vector: np.ndarray


def paper_from_metadata(metadata: dict) -> Paper:
    """The paper a first chunk's metadata describes (the first chunk carries the abstract)."""
    return Paper(
        title=str(metadata.get("title") or ""),
        abstract=str(metadata.get("abstract") or ""),
        paper_id=str(metadata["paper_id"]),
        url=str(metadata.get("url") or ""),
        authors=tuple(a for a in str(metadata.get("authors") or "").split("; ") if a),
        date=str(metadata.get("date") or ""),
        source=str(metadata.get("source") or ""),
        listing=Listing.from_metadata(metadata),
    )


class Catalog:
    """Reads the papers of a collection from its store, keeping each version once read."""

    def __init__(self, keyword: KeywordIndex, store: VectorStore) -> None:
        self.keyword = keyword
        self.store = store
        self.read: dict[str, CatalogPaper] = {}  # by chunk-id prefix (paper and version)

    def papers(self, filters: Filters | None = None) -> list[CatalogPaper]:
        """The papers that pass `filters` (all without), by title."""
        mask = None
        if filters:
            mask = self.keyword.mask(
                filters.date_range(), filters.source, filters.author, filters.dated == "listed"
            )
        chunks_by_version: dict[str, list[str]] = {}
        for chunk_id in self.keyword.chunk_ids(mask):
            prefix = version_prefix(paper_of(chunk_id), content_hash_of(chunk_id))
            chunks_by_version.setdefault(prefix, []).append(chunk_id)
        if mask is None:  # forget the versions replaced or removed since
            self.read = {p: c for p, c in self.read.items() if p in chunks_by_version}
        missing = [p for p in chunks_by_version if p not in self.read]
        for start in range(0, len(missing), FETCH_PAPERS):
            batch = missing[start : start + FETCH_PAPERS]
            self.read.update(self.fetch({p: chunks_by_version[p] for p in batch}))
        found = [self.read[p] for p in chunks_by_version if p in self.read]
        return sorted(found, key=lambda c: c.paper.title.casefold())

    def fetch(self, chunks_by_version: dict[str, list[str]]) -> dict[str, CatalogPaper]:
        """Each version's paper, from its first chunk, and the mean vector of its chunks."""
        fetched = self.store.fetch([c for chunks in chunks_by_version.values() for c in chunks])
        read = {}
        for prefix, chunk_ids in chunks_by_version.items():
            first = fetched.get(f"{prefix}0")
            vectors = [fetched[c][1] for c in chunk_ids if c in fetched]
            if first is None or not vectors:
                continue  # written or removed by another process since the index was read
            mean = np.mean(vectors, axis=0)
            vector = mean / (np.linalg.norm(mean) or 1.0)
            read[prefix] = CatalogPaper(paper_from_metadata(first[0].metadata), vector)
        return read
