"""PaperChat: ask questions about a collection of research papers.

Importing `rag` is cheap: the model, Chroma and LangChain load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from rag.environment import disable_telemetry

disable_telemetry()

if TYPE_CHECKING:
    from rag.answer import Answer, Citation
    from rag.api import PaperChat
    from rag.config import Settings
    from rag.ingest import IngestReport, PaperNotFound
    from rag.load import Paper
    from rag.search import Filters, Hit

EXPORTS = {
    "PaperChat": "rag.api",
    "Answer": "rag.answer",
    "Citation": "rag.answer",
    "Settings": "rag.config",
    "IngestReport": "rag.ingest",
    "PaperNotFound": "rag.ingest",
    "Paper": "rag.load",
    "Filters": "rag.search",
    "Hit": "rag.search",
}
__all__ = [
    "Answer",
    "Citation",
    "Filters",
    "Hit",
    "IngestReport",
    "Paper",
    "PaperChat",
    "PaperNotFound",
    "Settings",
]


def __getattr__(name: str):
    if name in EXPORTS:
        return getattr(import_module(EXPORTS[name]), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
