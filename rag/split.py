"""Split abstracts into token-sized chunks that fit the embedding model's window, and sentences.

Chunks are what search finds; sentences are what answers quote.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.load import Paper, day_number

ENCODING = "cl100k_base"
ABBREVIATIONS = ("al.", "e.g.", "i.e.", "vs.", "cf.", "Fig.", "Eq.", "Sec.", "approx.", "resp.")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Sentences of an abstract, not broken after common abbreviations like "et al."."""
    sentences: list[str] = []
    for part in SENTENCE_END.split(text.strip()):
        if sentences and sentences[-1].endswith(ABBREVIATIONS):
            sentences[-1] = f"{sentences[-1]} {part}"
        elif part:
            sentences.append(part)
    return sentences


@dataclass(frozen=True)
class Sentence:
    """One sentence of an abstract, embedded on its own (when first quoted) so answers can
    quote it."""

    sentence_id: str
    paper_id: str
    index: int
    text: str


@dataclass(frozen=True)
class Chunk:
    """A piece of one abstract. `text` is what gets embedded and keyword-indexed."""

    chunk_id: str
    paper_id: str
    index: int
    piece: str  # the abstract text alone
    text: str  # title + piece, so a chunk is never anonymous
    metadata: dict[str, Any]


def chunk_metadata(paper: Paper, index: int, count: int, sentences: int) -> dict[str, Any]:
    """Chroma metadata of a chunk: only str, int and float values. The first chunk also
    carries the whole abstract, from which answers take their sentences."""
    metadata = {
        "paper_id": paper.paper_id,
        "title": paper.title,
        "chunk_index": index,
        "chunk_count": count,
        "sentence_count": sentences,
        "url": paper.url,
        "date": paper.date,
        "date_num": day_number(paper.date),
        "authors": "; ".join(paper.authors),
        "source": paper.source,
        "content_hash": paper.content_hash,
        **paper.listing.to_metadata(),
    }
    if index == 0:
        metadata["abstract"] = paper.abstract
    return metadata


def version_prefix(paper_id: str, content_hash: str) -> str:
    """What the ids of one version of a paper start with: chunk ids continue with their
    index (`-0` is the first chunk), sentence ids with `s` and theirs."""
    return f"{paper_id}#{content_hash}-"


def sentences_of(paper_id: str, content_hash: str, abstract: str) -> list[Sentence]:
    prefix = version_prefix(paper_id, content_hash)
    return [
        Sentence(f"{prefix}s{index}", paper_id, index, text)
        for index, text in enumerate(split_sentences(abstract))
    ]


class Chunker:
    """Splits with tiktoken through langchain-text-splitters, then checks the model's window.

    `fits` says whether a chunk's text is seen whole by the embedding model; a piece that does
    not fit (long titles, symbol-heavy text) is split again with half the token budget.
    """

    def __init__(self, tokens: int, overlap: int, fits: Callable[[str], bool]) -> None:
        self.tokens, self.overlap, self.fits = tokens, overlap, fits
        self._splitters: dict[int, RecursiveCharacterTextSplitter] = {}

    def _splitter(self, tokens: int) -> RecursiveCharacterTextSplitter:
        if tokens not in self._splitters:
            self._splitters[tokens] = RecursiveCharacterTextSplitter.from_tiktoken_encoder(
                encoding_name=ENCODING,
                chunk_size=tokens,
                chunk_overlap=min(self.overlap, tokens // 2),
                separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
                keep_separator="end",
            )
        return self._splitters[tokens]

    def _pieces(self, title: str, text: str, tokens: int) -> list[str]:
        pieces = []
        for piece in self._splitter(tokens).split_text(text):
            if tokens > 16 and not self.fits(f"{title}\n\n{piece}"):
                pieces.extend(self._pieces(title, piece, tokens // 2))
            else:
                pieces.append(piece)
        return pieces

    def split(self, paper: Paper) -> list[Chunk]:
        pieces = self._pieces(paper.title, paper.abstract, self.tokens)
        sentence_count = len(split_sentences(paper.abstract))
        return [
            Chunk(
                chunk_id=f"{version_prefix(paper.paper_id, paper.content_hash)}{index}",
                paper_id=paper.paper_id,
                index=index,
                piece=piece,
                text=f"{paper.title}\n\n{piece}",
                metadata=chunk_metadata(paper, index, len(pieces), sentence_count),
            )
            for index, piece in enumerate(pieces)
        ]
