"""Insert and dense search: chunks in Chroma through langchain-chroma, sentences beside them.

Two collections: `NAME` holds the chunks that search finds, `NAME-sentences` the abstracts'
sentences with their own vectors, which answers quote. Sentences are embedded the first time
a paper is quoted, from the abstract its first chunk carries, and kept; so ingest embeds
chunks only. Chroma is the source of truth: the keyword index is derived from it and checked
against the collection's `generation`, a token that every write to the collection changes.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import chromadb
import httpx
import numpy as np
from chromadb.config import Settings as ClientSettings
from chromadb.errors import InternalError
from langchain_chroma import Chroma

from rag.config import Settings
from rag.embed import VectorEmbeddings
from rag.owner import Notify, claim_store, release_store, to_stderr
from rag.split import Chunk, sentences_of, version_prefix

log = logging.getLogger(__name__)
T = TypeVar("T")
GENERATION_KEY = "paperchat_generation"
EMBEDDING_KEY = "paperchat_embedding"  # the model whose vectors the collection holds
LEGACY_EMBEDDING = "all-MiniLM-L6-v2"  # collections from before the key was recorded
READ_PAGE = 1000  # Chroma rows read or deleted per request
SENTENCE_CACHE_PAPERS = 5000  # papers whose sentences are kept in memory
COSINE = {"hnsw": {"space": "cosine"}}
QUERY_RETRIES = (0.2, 0.5, 1.0)  # seconds before each new try of a failed query


def client_settings() -> ClientSettings:
    """New each time: HttpClient writes its host and port into the object it is given."""
    return ClientSettings(anonymized_telemetry=False, allow_reset=True)


def retried(query: Callable[[], T]) -> T:
    """A nearest-neighbour query, asked again after a Chroma internal error: a `chroma run`
    that another process is writing to may fail a query while it persists an HNSW segment
    ("Error creating hnsw segment reader: Nothing found on disk", chroma-core/chroma#4212)."""
    for wait in QUERY_RETRIES:
        try:
            return query()
        except InternalError as exc:
            log.warning("Chroma query failed (%s); asking again in %.1f s", exc, wait)
            time.sleep(wait)
    return query()


class StoreUnavailable(RuntimeError):
    """The Chroma server cannot be reached, or the embedded store cannot be opened."""


class StoreWriteFailed(StoreUnavailable):
    """Chroma or the keyword index could not write: a full disk, a read-only directory."""


@dataclass(frozen=True)
class StoredChunk:
    chunk_id: str
    text: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class StoredSentence:
    index: int
    text: str
    vector: np.ndarray


def ids_by_paper(collection: chromadb.Collection, paper_ids: list[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for start in range(0, len(paper_ids), READ_PAGE):
        batch = paper_ids[start : start + READ_PAGE]
        rows = collection.get(where={"paper_id": {"$in": batch}}, include=["metadatas"])
        for row_id, metadata in zip(rows["ids"], rows["metadatas"], strict=True):
            found.setdefault(str(metadata["paper_id"]), set()).add(row_id)
    return found


def delete_ids(collection: chromadb.Collection, ids: Iterable[str]) -> None:
    ids = list(ids)
    for start in range(0, len(ids), READ_PAGE):
        collection.delete(ids=ids[start : start + READ_PAGE])


def http_client(host: str, port: int, ssl: bool) -> chromadb.ClientAPI:
    try:
        client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=client_settings())
        client.heartbeat()
    except Exception as exc:
        raise StoreUnavailable(f"cannot reach the Chroma server at {host}:{port}: {exc}") from exc
    return client


def read_only(path: Path, exc: Exception) -> bool:
    return "readonly" in str(exc) or "Read-only" in str(exc) or not os.access(path, os.W_OK)


def read_only_error(data_dir: Path) -> StoreUnavailable:
    return StoreUnavailable(
        f"the data directory {data_dir} is read-only, and Chroma must write there even to"
        " read; set PAPERCHAT_DATA_DIR to a writable directory, or serve the index from a"
        " Chroma server (PAPERCHAT_CHROMA_HOST)"
    )


def claim_data_dir(data_dir: Path, notify: Notify) -> int | None:
    """`rag.owner.claim_store`, its failures as StoreUnavailable."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        return claim_store(data_dir, notify)
    except OSError as exc:
        if read_only(data_dir, exc):
            raise read_only_error(data_dir) from exc
        raise StoreUnavailable(f"cannot use the data directory {data_dir}: {exc}") from exc


def embedded_client(data_dir: Path) -> chromadb.ClientAPI:
    path = data_dir / "chroma"
    try:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=client_settings())
    except Exception as exc:
        if read_only(path, exc):
            raise read_only_error(data_dir) from exc
        raise StoreUnavailable(f"cannot open the Chroma store in {path}: {exc}") from exc


class VectorStore:
    """The chunk and sentence collections, cosine space, embedded by our own model.

    The Chroma store is the configured server's (PAPERCHAT_CHROMA_HOST), else the data
    directory's: through the `chroma run` that `paperchat serve` started for it, or opened
    here, embedded, as its only owner until `close()` (see `rag.owner`).
    """

    def __init__(
        self, settings: Settings, embeddings: VectorEmbeddings, notify: Notify = to_stderr
    ) -> None:
        self.settings, self.embeddings, self.notify = settings, embeddings, notify
        self.data_dir = settings.data_dir
        self.name = settings.chroma.collection
        self._sentence_cache: dict[tuple[str, str], list[StoredSentence]] = {}
        self._connect()

    def _connect(self) -> None:
        """Open the configured server's store, or the one `paperchat serve` shares, or own
        the data directory's store embedded (waiting while another process owns it)."""
        chroma = self.settings.chroma
        self.embedded = self.shared = False
        if chroma.host:
            self.location = f"http://{chroma.host}:{chroma.port}"
            self.client = http_client(chroma.host, chroma.port, chroma.ssl)
        elif (port := claim_data_dir(self.data_dir, self.notify)) is not None:
            self.shared = True
            self.location = f"http://127.0.0.1:{port}"  # `paperchat serve`'s `chroma run`
            self.client = http_client("127.0.0.1", port, False)
        else:
            self.embedded = True
            self.location = str(self.data_dir / "chroma")
            try:
                self.client = embedded_client(self.data_dir)
            except StoreUnavailable:
                release_store(self.data_dir)
                raise
        self._open_collections()

    def _open_collections(self) -> None:
        """Bind to the collections, made if missing; again after another process reset them."""
        self.langchain = Chroma(
            collection_name=self.name,
            embedding_function=self.embeddings,
            client=self.client,
            collection_configuration=COSINE,
        )
        self.collection = self.client.get_collection(self.name, embedding_function=None)
        metadata = self.collection.metadata or {}
        recorded = metadata.get(EMBEDDING_KEY) or (LEGACY_EMBEDDING if self.count() else None)
        if recorded is None:
            self.collection.modify(metadata={**metadata, EMBEDDING_KEY: self.embeddings.name})
        elif recorded != self.embeddings.name:
            raise StoreUnavailable(
                f"the collection {self.name!r} holds vectors of {recorded}, but the configured"
                f" embedding model is {self.embeddings.name}; choose another collection"
                " (PAPERCHAT_CHROMA_COLLECTION), or `paperchat reset` and ingest again"
            )
        self.sentence_collection = self.client.get_or_create_collection(
            f"{self.name}-sentences", embedding_function=None, configuration=COSINE
        )

    def close(self) -> None:
        """Let other processes open the store, when this one owned it embedded. Chroma's
        in-process state of it goes too, so a later open reads what others wrote since."""
        if self.embedded:
            self.embedded = False
            self.client.close()
            release_store(self.data_dir)

    def count(self) -> int:
        return self.collection.count()

    def generation(self) -> str:
        """The collection's generation token, read fresh (another client may have written).
        A collection made anew by another process's reset is bound to first. When the
        `paperchat serve` that shared the store has stopped, the store is opened again from
        whoever owns it now: a restarted server, or this process, embedded."""
        try:
            collection = self.client.get_collection(self.name, embedding_function=None)
        except httpx.TransportError:
            if not self.shared:
                raise
            self._connect()
            collection = self.client.get_collection(self.name, embedding_function=None)
        if collection.id != self.collection.id:
            self._open_collections()
        return (collection.metadata or {}).get(GENERATION_KEY, "")

    def new_generation(self) -> str:
        """Mark the collection as changing; derived indexes built before now become stale."""
        generation = uuid.uuid4().hex
        metadata = self.client.get_collection(self.name, embedding_function=None).metadata or {}
        self.collection.modify(metadata={**metadata, GENERATION_KEY: generation})
        return generation

    def chunk_ids_by_paper(self, paper_ids: list[str]) -> dict[str, set[str]]:
        return ids_by_paper(self.collection, paper_ids)

    def sentence_ids_by_paper(self, paper_ids: list[str]) -> dict[str, set[str]]:
        return ids_by_paper(self.sentence_collection, paper_ids)

    def add(self, chunks: list[Chunk]) -> None:
        """Embed and upsert; chunk ids are deterministic, so a repeat never duplicates."""
        self.langchain.add_texts(
            [c.text for c in chunks], [c.metadata for c in chunks], [c.chunk_id for c in chunks]
        )

    def delete(self, chunk_ids: Iterable[str]) -> None:
        delete_ids(self.collection, chunk_ids)

    def delete_sentences(self, sentence_ids: Iterable[str]) -> None:
        delete_ids(self.sentence_collection, sentence_ids)

    def sentences(self, versions: dict[str, str]) -> dict[str, list[StoredSentence]]:
        """Each paper's sentences in abstract order, with their vectors, for papers given as
        paper id -> content hash. Sentences not stored yet are embedded now and kept. A
        version's sentences never change, so the last few thousand read are kept in memory:
        search and the answer ask for the same papers in turn."""
        cached = {p: self._sentence_cache.get((p, v)) for p, v in versions.items()}
        missing = {p: versions[p] for p, hit in cached.items() if hit is None}
        found = self._read_sentences(missing)
        if len(self._sentence_cache) > SENTENCE_CACHE_PAPERS:
            self._sentence_cache.clear()
        self._sentence_cache.update(((p, missing[p]), found[p]) for p in found if found[p])
        return {p: cached[p] or found.get(p, []) for p in versions}

    def _read_sentences(self, versions: dict[str, str]) -> dict[str, list[StoredSentence]]:
        found: dict[str, list[StoredSentence]] = {p: [] for p in versions}
        if not versions:
            return found
        rows = self.sentence_collection.get(
            where={"paper_id": {"$in": list(versions)}},
            include=["documents", "metadatas", "embeddings"],
        )
        for row_id, text, metadata, vector in zip(
            rows["ids"], rows["documents"], rows["metadatas"], rows["embeddings"], strict=True
        ):
            paper_id = str(metadata["paper_id"])
            if row_id.startswith(f"{version_prefix(paper_id, versions[paper_id])}s"):  # not stale
                vector = np.asarray(vector, np.float32)
                found[paper_id].append(StoredSentence(int(metadata["index"]), text, vector))
        missing = {p: h for p, h in versions.items() if not found[p]}
        if missing:
            found.update(self._embed_sentences(missing))
        for sentences in found.values():
            sentences.sort(key=lambda s: s.index)
        return found

    def _embed_sentences(self, versions: dict[str, str]) -> dict[str, list[StoredSentence]]:
        """Split the papers' abstracts (kept on their first chunk), embed and store them."""
        first_chunks = self.collection.get(
            ids=[f"{version_prefix(paper, version)}0" for paper, version in versions.items()],
            include=["metadatas"],
        )
        sentences = [
            sentence
            for metadata in first_chunks["metadatas"]
            for sentence in sentences_of(
                str(metadata["paper_id"]),
                str(metadata["content_hash"]),
                str(metadata.get("abstract") or ""),
            )
        ]
        found: dict[str, list[StoredSentence]] = {}
        if not sentences:
            return found
        vectors = self.embeddings.embed_documents([s.text for s in sentences])
        for sentence, vector in zip(sentences, vectors, strict=True):
            stored = StoredSentence(sentence.index, sentence.text, np.asarray(vector, np.float32))
            found.setdefault(sentence.paper_id, []).append(stored)
        try:
            self.sentence_collection.upsert(
                ids=[s.sentence_id for s in sentences],
                embeddings=vectors,
                documents=[s.text for s in sentences],
                metadatas=[{"paper_id": s.paper_id, "index": s.index} for s in sentences],
            )
        except Exception as exc:  # a cache write: a read-only store still answers
            log.warning("could not keep sentence vectors in Chroma (%s)", exc)
        return found

    def dense(self, vector: np.ndarray, n: int) -> list[tuple[StoredChunk, float]]:
        """The `n` nearest chunks with their cosine similarity, best first."""
        if n <= 0:
            return []
        found = retried(
            lambda: self.langchain.similarity_search_by_vector_with_relevance_scores(
                vector.tolist(), k=n
            )
        )
        return [
            (StoredChunk(doc.id or "", doc.page_content, doc.metadata), 1.0 - distance)
            for doc, distance in found
        ]

    def nearest(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """The ids of the `n` nearest chunks and their cosine similarity, best first."""
        found = retried(
            lambda: self.collection.query(
                query_embeddings=[vector.tolist()], n_results=n, include=["distances"]
            )
        )
        return [(i, 1.0 - d) for i, d in zip(found["ids"][0], found["distances"][0], strict=True)]

    def vectors(self, chunk_ids: list[str]) -> tuple[list[str], np.ndarray]:
        """The stored vectors of `chunk_ids` (those that exist), one row each."""
        ids, rows = [], []
        for start in range(0, len(chunk_ids), READ_PAGE):
            found = self.collection.get(
                ids=chunk_ids[start : start + READ_PAGE], include=["embeddings"]
            )
            ids += found["ids"]
            rows += list(found["embeddings"])
        if not ids:
            return [], np.zeros((0, 0), np.float32)
        return ids, np.asarray(rows, np.float32).reshape(len(ids), -1)

    def fetch(self, chunk_ids: list[str]) -> dict[str, tuple[StoredChunk, np.ndarray]]:
        if not chunk_ids:
            return {}
        rows = self.collection.get(ids=chunk_ids, include=["documents", "metadatas", "embeddings"])
        return {
            chunk_id: (StoredChunk(chunk_id, text, metadata), np.asarray(vector, np.float32))
            for chunk_id, text, metadata, vector in zip(
                rows["ids"], rows["documents"], rows["metadatas"], rows["embeddings"], strict=True
            )
        }

    def paper_rows(self, paper_id: str) -> tuple[list[str], list[str]]:
        """The ids of a paper's chunks and of its sentences."""
        where = {"paper_id": paper_id}
        return (
            self.collection.get(where=where, include=[])["ids"],
            self.sentence_collection.get(where=where, include=[])["ids"],
        )

    def pages(self) -> Iterator[list[StoredChunk]]:
        """Every chunk in the collection, a page at a time."""
        offset = 0
        while True:
            rows = self.collection.get(
                include=["documents", "metadatas"], limit=READ_PAGE, offset=offset
            )
            yield [
                StoredChunk(chunk_id, text, metadata)
                for chunk_id, text, metadata in zip(
                    rows["ids"], rows["documents"], rows["metadatas"], strict=True
                )
            ]
            if len(rows["ids"]) < READ_PAGE:
                return
            offset += READ_PAGE

    def reset(self) -> None:
        """Delete every chunk and sentence: both collections are dropped and made anew."""
        self.client.delete_collection(self.sentence_collection.name)
        self.client.delete_collection(self.name)
        self._open_collections()
