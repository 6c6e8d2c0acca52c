"""The Python API: `PaperChat`, which the CLI and the web UI are thin layers over."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from chromadb.errors import InternalError

from rag import owner
from rag.answer import Answer
from rag.config import Settings
from rag.environment import install_tiktoken_files
from rag.fetch import (
    Fetcher,
    FetchError,
    FetchReport,
    check_arxiv_ids,
    first_listing,
    papers_in,
    parse_day,
)
from rag.fetch import Progress as FetchProgress
from rag.ingest import Ingester, IngestReport, Progress, Source
from rag.keyword import KeywordIndex
from rag.load import Paper
from rag.local_llm import EmbeddedServer
from rag.owner import Notify, to_stderr
from rag.prompts import load_prompts
from rag.question import Answerer
from rag.search import (
    DateKind,
    Filters,
    Hit,
    HybridSearch,
    Mode,
    content_hash_of,
    paper_of,
)
from rag.split import Chunker
from rag.store import StoreUnavailable, StoreWriteFailed

if TYPE_CHECKING:  # the chain and the LLM client (openai) load on the first question
    from rag.chain import AnswerChain
    from rag.embed import VectorEmbeddings
    from rag.llm import LLMAnswerer
    from rag.retriever import PaperRetriever
    from rag.themes import Theme

log = logging.getLogger(__name__)


class PaperChat:
    """A paper collection to ingest into and search. Opens lazily: nothing loads until used."""

    def __init__(self, settings: Settings | None = None, notify: Notify = to_stderr) -> None:
        """`notify` is told, in one line, when this waits for another process."""
        self.settings = settings or Settings()
        self.notify = notify
        self.chroma_server: owner.ChromaServer | None = None

    @cached_property
    def embeddings(self) -> VectorEmbeddings:
        """The local MiniLM, or the served model named by PAPERCHAT_EMBEDDING_MODEL."""
        from rag.embed import MiniLMEmbeddings, RemoteEmbeddings

        embedding = self.settings.embedding
        if embedding.model:
            api_key = embedding.api_key or self.settings.openai_api_key
            return RemoteEmbeddings(
                embedding.model,
                embedding.base_url or self.settings.openai_base_url,
                api_key.get_secret_value() if api_key else None,
                self.settings.llm.timeout,
            )
        return MiniLMEmbeddings(
            self.settings.cache_dir, batch_size=embedding.batch_size, threads=embedding.threads
        )

    @cached_property
    def store(self):
        from rag.store import VectorStore

        return VectorStore(self.settings, self.embeddings, self.notify)

    @cached_property
    def keyword(self) -> KeywordIndex:
        index = KeywordIndex(self.settings.data_dir / "keyword" / self.settings.chroma.collection)
        index.load()
        return index

    @cached_property
    def tiktoken_dir(self) -> Path:
        """tiktoken's BPE files, unpacked before anything counts tokens (never downloaded)."""
        return install_tiktoken_files(self.settings.cache_dir)

    @cached_property
    def chunker(self) -> Chunker:
        self.tiktoken_dir  # noqa: B018
        chunk = self.settings.chunk
        return Chunker(chunk.tokens, chunk.overlap, self.embeddings.fits_window)

    @cached_property
    def ingester(self) -> Ingester:
        return Ingester(self.store, self.keyword, self.chunker)

    @cached_property
    def prompts(self) -> dict[str, str]:
        return load_prompts(self.settings.prompts_dir)

    @cached_property
    def local_model(self) -> EmbeddedServer | None:
        """llama.cpp serving PAPERCHAT_LLM_GGUF, started on its first question; else None."""
        llm = self.settings.llm
        if llm.gguf is None:
            return None
        return EmbeddedServer(llm.gguf, llm.context, llm.threads, llm.port)

    @cached_property
    def llm(self) -> LLMAnswerer | None:
        """The LLM answerer when PAPERCHAT_LLM_GGUF, OPENAI_API_KEY or OPENAI_BASE_URL is set,
        else None. An embedded model is used before a server."""
        if not self.settings.llm_configured:
            return None
        from rag.llm import LLMAnswerer

        return LLMAnswerer(self.settings, self.prompts, self.local_model)

    def close(self) -> None:
        """Stop the embedded language model, if one runs, and let other processes open the
        Chroma store, if this one owned it (both also happen when the process ends). The
        object still works: the store opens again on its next use."""
        if "local_model" in self.__dict__ and self.local_model:
            self.local_model.close()
        if "store" in self.__dict__:
            self.store.close()
            for opened in ("store", "ingester", "searcher", "chain"):  # opened again on use
                self.__dict__.pop(opened, None)
        if self.chroma_server:
            self.chroma_server.close()

    def share_store(self) -> None:
        """Own the data directory's Chroma store while this object is open, and serve it to
        every other process on it (the CLI, a cron job, a notebook) through `chroma run` on
        a loopback port; `paperchat serve` does this. Call before anything opens the store.
        Raises StoreBusy when another server already shares it. Does nothing when the
        collection is on a configured Chroma server (PAPERCHAT_CHROMA_HOST)."""
        if "store" in self.__dict__:
            raise RuntimeError("share_store() must come before the store is opened")
        if not self.settings.chroma.host:
            self.chroma_server = owner.ChromaServer(self.settings.data_dir, self.notify)

    @cached_property
    def chain(self) -> AnswerChain:
        from rag.chain import AnswerChain

        self.tiktoken_dir  # noqa: B018
        return AnswerChain(
            self.settings,
            self.searcher,
            self.store,
            self.keyword,
            self.embeddings.embed_one,
            self.prompts,
            self.llm,
        )

    @cached_property
    def searcher(self) -> HybridSearch:
        return HybridSearch(
            self.store, self.keyword, self.embeddings.embed_one, self.settings.search
        )

    @contextmanager
    def reaching_chroma(self) -> Iterator[None]:
        """A Chroma server that went away becomes StoreUnavailable, with where it was."""
        try:
            yield
        except httpx.TransportError as exc:
            where = self.store.location
            raise StoreUnavailable(
                f"lost the Chroma server at {where} ({exc}); is it running?"
            ) from exc

    @contextmanager
    def writing(self) -> Iterator[None]:
        """One writer at a time across threads and processes (a second one waits, and says
        so once); a failed write (disk full, read-only) is StoreWriteFailed.

        Writes are idempotent and grouped, so what was stored before the failure stays,
        and running the same ingest again once there is room completes it.
        """
        with self.reaching_chroma():
            self.store  # noqa: B018 - owning the store first: a wait is then said once
            try:
                with owner.writing(self.settings.data_dir, self.notify):
                    yield
            except (InternalError, OSError) as exc:
                where = str(self.settings.data_dir)
                if not self.store.embedded:
                    where += f" or on the Chroma server at {self.store.location}"
                raise StoreWriteFailed(
                    f"could not write the index in {where} ({exc}); is the disk full or"
                    " read-only? What was already stored is kept: run it again once there is room."
                ) from exc

    def sync_keyword_index(self) -> bool:
        """Bring the keyword index up to date with the collection: reload it when another
        process on this data directory saved a newer one, else rebuild it from Chroma.

        True when a rebuild was needed (a killed ingest, a lost or corrupt index file, or
        another machine writing to a shared Chroma server). While another thread or process
        is writing, the index it saved last is used as it is: the writer brings it up to
        date, and a search never waits for a whole ingest.
        """
        with self.reaching_chroma():
            if self._keyword_is_current():  # the common case takes no lock
                return False
            if self.keyword.load() and self._keyword_is_current():
                return False  # another process on this data directory saved it
            if owner.writer_active(self.settings.data_dir):
                return False  # mid-write: what it saved last stands until it is done
            with self.writing():
                if self.keyword.load() and self._keyword_is_current():
                    return False  # a writer finished meanwhile
                generation = self.store.generation()
                log.warning("keyword index is out of date with Chroma; rebuilding it")
                pages = self.store.pages()
                self.keyword.rebuild(
                    ([(c.chunk_id, c.text, c.metadata) for c in page] for page in pages),
                    generation,
                )
                return True

    def _keyword_is_current(self) -> bool:
        if self.keyword.generation != self.store.generation():
            return False
        return len(self.keyword) > 0 or not self.store.count()

    def warm_sentences(self, max_papers: int = 2000) -> int:
        """Embed and keep the sentences of every paper not quoted yet, so that no first
        answer waits for them; only for collections of at most `max_papers`. Returns how
        many papers were made ready (0 when the collection is larger)."""
        with self.reaching_chroma():
            self.sync_keyword_index()
            versions = {paper_of(c): content_hash_of(c) for c in self.keyword.chunk_ids()}
            if len(versions) > max_papers:
                return 0
            papers = sorted(versions)
            for start in range(0, len(papers), 100):
                self.store.sentences({p: versions[p] for p in papers[start : start + 100]})
            return len(papers)

    def ingest(
        self, sources: Source | Iterable[Source], progress: Progress | None = None
    ) -> IngestReport:
        """Add papers from files (path or list of paths) or `Paper` objects."""
        with self.writing():
            self.sync_keyword_index()
            return self.ingester.ingest(sources, progress)

    def fetch_daily(
        self,
        days: Iterable[date | str],
        refresh: bool = False,
        progress: FetchProgress | None = None,
    ) -> FetchReport:
        """Fetch the Hugging Face Daily Papers of `days` (dates, or "YYYY-MM-DD") and ingest
        them. A paper on several days is stored once, with the first day. Days saved before
        are read from disk unless `refresh`. Raises FetchError, whose `report` says what was
        fetched and ingested before the failure."""
        days = [d if isinstance(d, date) else parse_day(d, "a day") for d in days]
        fetcher, report = Fetcher(self.settings), FetchReport()
        papers: dict[str, Paper] = {}
        self.sync_keyword_index()
        stored = {p.paper_id: p for p in self.keyword.papers()}

        def collect() -> None:
            for day, path, downloaded in fetcher.daily(sorted(days), refresh, progress):
                (report.downloaded if downloaded else report.reused).append(str(day))
                for paper in papers_in(path, report):
                    if paper.paper_id in papers:
                        report.repeated += 1
                    else:
                        papers[paper.paper_id] = first_listing(paper, stored.get(paper.paper_id))

        return self._fetched(collect, papers, report)

    def days_since_last_fetch(self) -> list[date]:
        """The days after the last Daily Papers day fetched, up to today (that day too when
        its page could still grow); today alone when nothing was fetched before."""
        return Fetcher(self.settings).since_last()

    def fetch_arxiv(self, ids: list[str], progress: FetchProgress | None = None) -> FetchReport:
        """Fetch papers by arXiv id (or URL) from the arXiv API and ingest them."""
        ids = check_arxiv_ids(ids)
        fetcher, report = Fetcher(self.settings), FetchReport()
        papers: dict[str, Paper] = {}

        def collect() -> None:
            for batch, path in fetcher.arxiv(ids, progress):
                report.downloaded.append(path.name)
                for paper in papers_in(path, report):
                    papers.setdefault(paper.paper_id, paper)
                report.missing += [i for i in batch if i not in papers]

        return self._fetched(collect, papers, report)

    def _fetched(
        self, collect: Callable[[], None], papers: dict[str, Paper], report: FetchReport
    ) -> FetchReport:
        """Run `collect`, then ingest what it found even when it failed part way."""
        try:
            collect()
        except FetchError as exc:
            report.error = str(exc)
        report.papers = len(papers)
        report.ingest = self.ingest(list(papers.values()))
        if report.error:
            failure = FetchError(report.error)
            failure.report = report
            raise failure
        return report

    def search(
        self,
        query: str,
        k: int | None = None,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
    ) -> list[Hit]:
        """Papers for `query`, one hit each, best first."""
        with self.reaching_chroma():
            self.sync_keyword_index()
            return self.searcher.search(query, k or self.settings.search.k, filters, mode)

    def stream(
        self,
        question: str,
        history: list[dict] | None = None,
        *,
        answerer: Answerer | None = None,
        filters: Filters | None = None,
        k: int | None = None,
        mode: Mode = "hybrid",
    ) -> Iterator[str | Answer]:
        """The answer as it is written: str pieces of markdown, then the final `Answer`.

        `history` is the conversation so far, as OpenAI/Gradio messages. `answerer` is
        "auto" (the LLM when one is configured), "extractive" or "llm"; `k` is how many
        papers to retrieve (default PAPERCHAT_ANSWER_SOURCES); `mode` the retriever.
        """
        with self.reaching_chroma():
            self.sync_keyword_index()
            yield from self.chain.stream(question, history, answerer, filters, k, mode)

    def ask(
        self,
        question: str,
        history: list[dict] | None = None,
        *,
        answerer: Answerer | None = None,
        filters: Filters | None = None,
        k: int | None = None,
        mode: Mode = "hybrid",
    ) -> Answer:
        """A grounded answer whose `[n]` citations map to `answer.citations`."""
        *_, answer = self.stream(
            question, history, answerer=answerer, filters=filters, k=k, mode=mode
        )
        return answer

    def retriever(
        self, k: int | None = None, filters: Filters | None = None, mode: Mode = "hybrid"
    ) -> PaperRetriever:
        """A LangChain retriever over this collection."""
        from rag.retriever import PaperRetriever

        self.sync_keyword_index()
        return PaperRetriever(
            searcher=self.searcher, k=k or self.settings.search.k, filters=filters, mode=mode
        )

    def themes(
        self, date_from: str = "", date_to: str = "", dated: DateKind = "published"
    ) -> list[Theme]:
        """The collection's themes (of the papers dated `date_from` to `date_to`, inclusive
        ISO days of `dated`: "published" or "listed"), the largest first, each with its name,
        its distinctive terms and its papers. A `FilterError` for a malformed day."""
        filters = Filters(date_from=date_from, date_to=date_to, dated=dated)
        with self.reaching_chroma():
            self.sync_keyword_index()
            return self.chain.collection.themes(filters or None)

    def remove(self, paper_id: str) -> int:
        """Delete a paper; returns how many chunks went. Raises `PaperNotFound` when no paper
        has that id."""
        with self.writing():
            self.sync_keyword_index()
            return self.ingester.remove(paper_id)

    def reset(self) -> None:
        """Delete every paper in the collection."""
        with self.writing():
            self.store.reset()
            self.keyword.clear(self.store.new_generation())

    def papers(self) -> list[dict[str, str]]:
        """Every paper in the collection: id, title and the file it came from, by title."""
        self.sync_keyword_index()
        papers = [
            {"paper_id": p.paper_id, "title": p.title, "source": p.source}
            for p in self.keyword.papers()
        ]
        return sorted(papers, key=lambda p: p["title"].casefold())

    def stats(self) -> dict[str, Any]:
        """Counts of papers, chunks and sources, and the size of the data directory."""
        with self.reaching_chroma():
            self.sync_keyword_index()
            chunks = self.store.count()
        papers = self.keyword.papers()
        sources = Counter(p.source for p in papers)
        data_dir = self.settings.data_dir
        size = sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())
        return {
            "papers": len(papers),
            "chunks": chunks,
            "sources": dict(sorted(sources.items())),
            "collection": self.settings.chroma.collection,
            "chroma": self.store.location,
            "served_by": owner.server(data_dir) if self.store.shared else "",
            "data_dir": str(data_dir),
            "disk_bytes": size,
        }
