"""The LangChain retriever over a collection (`PaperChat.retriever()`), apart from search so
that a search loads no LangChain tracing (half a second at start)."""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.search import Filters, HybridSearch, Mode


class PaperRetriever(BaseRetriever):
    """LangChain retriever over `HybridSearch`: one Document per paper, best first."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    searcher: HybridSearch
    k: int = 5
    filters: Filters | None = None
    mode: Mode = "hybrid"

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits = self.searcher.search(query, self.k, self.filters, self.mode)
        return [Document(page_content=h.text, metadata=h.to_dict(), id=h.paper_id) for h in hits]
