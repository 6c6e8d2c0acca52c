"""Hybrid search: dense (Chroma) and BM25 candidates fused by reciprocal rank, one hit per
paper; the leading candidates, with their best sentence's cosine, are then ranked by the
learned fusion model (rag/models/fusion.json, trained by eval/train_models.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from rag import learned
from rag.config import SearchSettings
from rag.keyword import KeywordIndex, tokenize
from rag.load import Listing, day_number, parse_date, squash
from rag.store import StoredChunk, VectorStore

Mode = Literal["hybrid", "dense", "keyword"]
DateKind = Literal["published", "listed"]
MAX_QUERY_CHARS = 2000
EXACT_SEARCH_LIMIT = 500  # filtered chunks compared one by one rather than through HNSW
TITLE_BONUS = 1.0  # more than any fused rank score (at most 2 / (rrf_k + 1))


class FilterError(ValueError):
    """A filter value that cannot be used; `field` is the `Filters` field it was given for."""

    def __init__(self, field: str, rule: str, value: str) -> None:
        self.field, self.rule, self.value = field, rule, value
        super().__init__(self.naming(field))

    def naming(self, name: str) -> str:
        """The error with the field called as the user knows it: "--from", "From date"."""
        return f"{name} {self.rule}, got {self.value!r}"


@dataclass(frozen=True)
class Filters:
    """Metadata filters, applied to dense and keyword search alike.

    Dates are inclusive ISO dates of `dated`: "published", the paper's own date (an arXiv
    paper's arXiv date), or "listed", the day it was on Hugging Face Daily Papers. Papers of
    unknown date are left out by a date filter. `author` is a case-insensitive substring of
    any author's name.
    """

    date_from: str = ""
    date_to: str = ""
    author: str = ""
    source: str = ""
    dated: DateKind = "published"

    def __post_init__(self) -> None:
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value and not parse_date(value):
                raise FilterError(name, "must be an ISO date (YYYY-MM-DD)", value)
            object.__setattr__(self, name, parse_date(value))
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise FilterError("date_to", f"must not be before {self.date_from}", self.date_to)
        if self.dated not in get_args(DateKind):
            raise FilterError("dated", "must be published or listed", self.dated)
        object.__setattr__(self, "author", squash(self.author).casefold())
        object.__setattr__(self, "source", squash(self.source))

    def __bool__(self) -> bool:
        return any((self.date_from, self.date_to, self.author, self.source))

    def describe(self) -> str:
        """The filters in words: "dated from 2024-01-01, with an author matching 'hinton'"."""
        parts = []
        span = " ".join(
            f"{word} {day}" for word, day in (("from", self.date_from), ("to", self.date_to)) if day
        )
        if span:
            parts.append(f"{'on Daily Papers' if self.dated == 'listed' else 'dated'} {span}")
        if self.author:
            parts.append(f"with an author matching {self.author!r}")
        if self.source:
            parts.append(f"from {self.source}")
        return ", ".join(parts)

    def date_range(self) -> tuple[int, int] | None:
        if not (self.date_from or self.date_to):
            return None
        low = day_number(self.date_from) or 1
        high = day_number(self.date_to) or 99991231
        return low, high


@dataclass
class Hit:
    """One paper found for a query, with its best-matching chunk as evidence.

    `score` is the cosine similarity of the query and that chunk (-1..1): comparable across
    queries. `fused` is the reciprocal-rank-fusion score that orders hits within a query.
    """

    paper_id: str
    title: str
    score: float
    text: str
    url: str = ""
    authors: list[str] = field(default_factory=list)
    date: str = ""
    source: str = ""
    chunk_id: str = ""
    fused: float = 0.0
    dense_rank: int | None = None
    keyword_rank: int | None = None
    sentence_score: float | None = None  # best cosine of the query and one of its sentences
    sentence_rank: int | None = None
    listing: Listing = field(default_factory=Listing)  # upvotes, links, keywords: Daily Papers

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def paper_of(chunk_id: str) -> str:
    """Chunk ids are `{paper_id}#{content_hash}-{index}` (see `rag.split.version_prefix`)."""
    return chunk_id.rsplit("#", 1)[0]


def content_hash_of(chunk_id: str) -> str:
    return chunk_id.rsplit("#", 1)[1].rsplit("-", 1)[0]


def chunk_piece(chunk: StoredChunk) -> str:
    """The abstract text of a stored chunk, without the title line it was embedded with."""
    title = str(chunk.metadata.get("title", ""))
    return chunk.text.removeprefix(f"{title}\n\n")


class HybridSearch:
    """Reciprocal rank fusion of dense and keyword rankings, at the paper level."""

    def __init__(
        self,
        store: VectorStore,
        keyword: KeywordIndex,
        embed_query: Callable[[str], np.ndarray],
        settings: SearchSettings,
    ) -> None:
        self.store = store
        self.keyword = keyword
        self.embed_query = embed_query
        self.settings = settings

    def _dense(
        self, vector: np.ndarray, n: int, mask: np.ndarray | None
    ) -> list[tuple[StoredChunk, float]]:
        """The `n` nearest chunks among those `mask` lets through (all when None).

        Chroma's metadata filters scan SQLite (about 0.1 s per 25k chunks), so filters are
        applied here instead, from the keyword index's copy of the metadata: a filter that
        leaves few chunks compares the query with exactly those; otherwise the nearest
        neighbours are fetched deeper until `n` of them pass.
        """
        if mask is None:
            return self.store.dense(vector, n)
        allowed = int(mask.sum())
        if allowed <= EXACT_SEARCH_LIMIT:
            ids, vectors = self.store.vectors(self.keyword.chunk_ids(mask))
            similarity = vectors @ vector if ids else np.zeros(0)
            order = np.argsort(-similarity, kind="stable")[:n]
            ranked = [(ids[i], float(similarity[i])) for i in order]
        else:
            total = len(self.keyword)  # mirrors the collection: synced before every search
            depth = min(total, max(n, n * len(mask) // allowed * 2))
            while True:
                nearest = self.store.nearest(vector, depth)
                rows = self.keyword.rows_of([chunk_id for chunk_id, _ in nearest])
                passing = zip(nearest, rows, strict=True)
                ranked = [pair for pair, row in passing if row >= 0 and mask[row]][:n]
                if len(ranked) >= n or depth >= total:
                    break
                depth = min(total, depth * 4)
        chunks = self.store.fetch([chunk_id for chunk_id, _ in ranked])
        return [(chunks[c][0], similarity) for c, similarity in ranked if c in chunks]

    def search(
        self,
        query: str,
        k: int,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
        vector: np.ndarray | None = None,
    ) -> list[Hit]:
        """Up to `k` papers for `query`; `vector` is its embedding when the caller has it."""
        query = squash(query)
        if not query:
            raise ValueError("the query is empty")
        query = query[:MAX_QUERY_CHARS]
        filters = filters or Filters()
        mask = None
        if filters:
            mask = self.keyword.mask(
                filters.date_range(), filters.source, filters.author, filters.dated == "listed"
            )
            if not mask.any():
                return []
        vector = self.embed_query(query) if vector is None else vector
        pool = self.pool(query, vector, k, mode, mask)
        if pool.features:
            chances = learned.model("fusion").probabilities(list(pool.features.values()))
            pool.paper_fused = dict(zip(pool.features, map(float, chances), strict=True))
        for paper_id in pool.titled:
            pool.paper_fused[paper_id] += TITLE_BONUS
        chunk_fused, paper_fused = pool.chunk_fused, pool.paper_fused
        top = sorted(paper_fused, key=lambda p: -paper_fused[p])[:k]
        evidence = {
            p: max((c for c in chunk_fused if paper_of(c) == p), key=chunk_fused.__getitem__)
            for p in top
        }
        known = dict(pool.dense_chunks)
        missing = [c for c in evidence.values() if c not in known]
        for chunk_id, (chunk, chunk_vector) in self.store.fetch(missing).items():
            known[chunk_id] = (chunk, float(chunk_vector @ vector))

        hits = []
        for paper_id in top:
            if evidence[paper_id] not in known:  # removed by another process just now
                continue
            chunk, similarity = known[evidence[paper_id]]
            meta = chunk.metadata
            hits.append(
                Hit(
                    paper_id=paper_id,
                    title=str(meta.get("title", "")),
                    score=round(float(similarity), 4),
                    text=chunk_piece(chunk),
                    url=str(meta.get("url", "")),
                    authors=[a for a in str(meta.get("authors", "")).split("; ") if a],
                    date=str(meta.get("date", "")),
                    source=str(meta.get("source", "")),
                    chunk_id=chunk.chunk_id,
                    fused=round(paper_fused[paper_id], 6),
                    dense_rank=pool.ranks[paper_id][0],
                    keyword_rank=pool.ranks[paper_id][1],
                    sentence_score=pool.sentence.get(paper_id),
                    sentence_rank=pool.ranks[paper_id][2],
                    listing=Listing.from_metadata(meta),
                )
            )
        return hits

    def pool(
        self, query: str, vector: np.ndarray, k: int, mode: Mode, mask: np.ndarray | None
    ) -> Pool:
        """The papers found, scored by reciprocal rank fusion of the dense and keyword
        rankings; in hybrid mode, the leading `pool` of them with the evidence the learned
        fusion model weighs (`fusion_features`), so that the weight BM25 gets depends on what
        it matched rather than being fixed."""
        n = self.settings.candidates
        dense = self._dense(vector, n, mask) if mode != "keyword" else []
        keyword = self.keyword.search(query, n, mask) if mode != "dense" else []
        weights = {
            "hybrid": (self.settings.dense_weight, self.settings.keyword_weight),
            "dense": (1.0, 0.0),
            "keyword": (0.0, 1.0),
        }[mode]
        rankings = [
            [(c.chunk_id, similarity) for c, similarity in dense],
            keyword,
        ]
        pool = Pool(
            query_terms=len(tokenize([query])[0]),
            dense_chunks={c.chunk_id: (c, similarity) for c, similarity in dense},
        )
        for which, (weight, ranking) in enumerate(zip(weights, rankings, strict=True)):
            best = pool.dense_best if which == 0 else pool.keyword_best
            for rank, (chunk_id, value) in enumerate(ranking, 1):
                pool.chunk_fused[chunk_id] = pool.chunk_fused.get(chunk_id, 0.0) + weight / (
                    self.settings.rrf_k + rank
                )
                paper_id = paper_of(chunk_id)
                if paper_id not in best:
                    best[paper_id] = value
                    paper_rank = len(best)
                    pool.paper_fused[paper_id] = pool.paper_fused.get(paper_id, 0.0) + weight / (
                        self.settings.rrf_k + paper_rank
                    )
                    pool.ranks.setdefault(paper_id, [None, None, None])[which] = paper_rank
        if mode != "dense":  # a query that is a paper's whole title puts that paper first
            for paper_id, chunk_id in self.keyword.titled(query, mask):
                pool.titled.add(paper_id)
                pool.chunk_fused.setdefault(chunk_id, 0.0)
                pool.ranks.setdefault(paper_id, [None, None, None])
                pool.paper_fused[paper_id] = pool.paper_fused.get(paper_id, 0.0)
        if mode == "hybrid" and pool.paper_fused:
            leading = sorted(pool.paper_fused, key=lambda p: -pool.paper_fused[p])
            leading = leading[: max(k, self.settings.pool)]
            leading += [p for p in pool.titled if p not in leading]
            pool.sentence = self._best_sentences(vector, leading, pool.chunk_fused)
            by_sentence = sorted(pool.sentence, key=lambda p: -pool.sentence[p])
            for rank, paper_id in enumerate(by_sentence, 1):
                pool.ranks[paper_id][2] = rank
            pool.features = fusion_features(pool, leading)
        return pool

    def _best_sentences(
        self, vector: np.ndarray, papers: list[str], chunk_fused: dict[str, float]
    ) -> dict[str, float]:
        """Each paper's best cosine of the query with one of its sentences. A plain-language
        question often matches one sentence of the right paper closely while its chunks,
        diluted by the rest of the abstract, rank lower."""
        wanted = set(papers)
        versions = {paper_of(c): content_hash_of(c) for c in chunk_fused if paper_of(c) in wanted}
        return {
            paper_id: round(max(float(s.vector @ vector) for s in sentences), 4)
            for paper_id, sentences in self.store.sentences(versions).items()
            if sentences
        }


@dataclass
class Pool:
    """The papers one query found, with the evidence the fusion model weighs: each paper's
    best dense cosine and BM25 score, best sentence cosine, and its rank in each ranking."""

    query_terms: int = 0  # the query's words as BM25 sees them
    dense_chunks: dict[str, tuple[StoredChunk, float]] = field(default_factory=dict)
    titled: set[str] = field(default_factory=set)  # papers whose whole title the query is
    chunk_fused: dict[str, float] = field(default_factory=dict)  # RRF score per chunk
    paper_fused: dict[str, float] = field(default_factory=dict)  # the score papers rank by
    dense_best: dict[str, float] = field(default_factory=dict)  # best chunk cosine
    keyword_best: dict[str, float] = field(default_factory=dict)  # best chunk BM25
    sentence: dict[str, float] = field(default_factory=dict)  # best sentence cosine
    ranks: dict[str, list[int | None]] = field(default_factory=dict)  # dense, keyword, sentence
    features: dict[str, dict[str, float]] = field(default_factory=dict)  # per leading paper


def fusion_features(pool: Pool, papers: list[str]) -> dict[str, dict[str, float]]:
    """The fusion model's evidence for each of `papers`. A paper the dense search did not
    reach is given the lowest cosine it did reach (its own is no higher); BM25 scores are
    relative to the query's best, since their scale depends on the query's words."""
    lowest_dense = min(pool.dense_best.values(), default=0.0)
    top_keyword = max(pool.keyword_best.values(), default=0.0) or 1.0
    # How much BM25 found per word of the query: a question in plain words matches only
    # common words, weakly, and its BM25 ranking says little.
    strength = top_keyword / max(pool.query_terms, 1)
    dense = {p: pool.dense_best.get(p, lowest_dense) for p in papers}
    top_dense = max(dense.values(), default=0.0)
    top_sentence = max(pool.sentence.values(), default=0.0)

    def reciprocal(rank: int | None) -> float:
        return 1 / rank if rank else 0.0

    features = {}
    for paper_id in papers:
        dense_rank, keyword_rank, sentence_rank = pool.ranks[paper_id]
        sentence = pool.sentence.get(paper_id, lowest_dense)
        features[paper_id] = {
            "dense": dense[paper_id],
            "sentence": sentence,
            "keyword": pool.keyword_best.get(paper_id, 0.0) / top_keyword,
            "keyword_strength": strength,
            "keyword_strong": strength * pool.keyword_best.get(paper_id, 0.0) / top_keyword,
            "dense_rank": reciprocal(dense_rank),
            "keyword_rank": reciprocal(keyword_rank),
            "sentence_rank": reciprocal(sentence_rank),
            "dense_behind": top_dense - dense[paper_id],
            "sentence_behind": top_sentence - sentence,
            "title": float(paper_id in pool.titled),
        }
    return features
