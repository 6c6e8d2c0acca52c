"""Stage 2, retrieve: the papers a question may be about, more of them than are shown, for
the decision and for lists to choose from."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rag.condense import Condensed
from rag.context import Source, number_sources
from rag.extractive import search_query
from rag.question import carried
from rag.search import Hit, HybridSearch, content_hash_of
from rag.store import VectorStore


@dataclass(kw_only=True)
class Retrieved(Condensed):
    """A question with the papers found for it, numbered as the answer cites them."""

    query: str  # what was searched for: the standalone question without its question words
    vector: np.ndarray  # the query's embedding
    candidates: list[Source]  # the papers found, best first; a follow-up's referents among them


def sources_of(hits: list[Hit], store: VectorStore) -> list[Source]:
    """The hits as numbered sources, each with its abstract's sentences."""
    versions = {h.paper_id: content_hash_of(h.chunk_id) for h in hits}
    return number_sources(hits, store.sentences(versions))


def retrieve(
    asked: Condensed,
    searcher: HybridSearch,
    store: VectorStore,
    embed: Callable[[str], np.ndarray],
    pool: int,
) -> Retrieved:
    """The `pool` (at least `k`) best papers for the question, and those a follow-up refers
    to, each with its abstract's sentences."""
    started = time.perf_counter()
    query = search_query(asked.standalone)
    vector = embed(query)
    depth = max(asked.k, pool)
    hits = searcher.search(query, depth, asked.filters, asked.mode, vector)
    for title in asked.referred:  # a paper a follow-up refers to is always a candidate
        if all(h.title != title for h in hits):
            hits += [h for h in searcher.search(title, 1, asked.filters) if h.title == title]
    candidates = sources_of(hits, store)
    asked.timings["retrieve"] = time.perf_counter() - started
    return Retrieved(**carried(asked, Condensed), query=query, vector=vector, candidates=candidates)
