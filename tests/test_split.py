"""Chunking: token-sized pieces that fit the model's window and always carry their title."""

from __future__ import annotations

import itertools
import os

import tiktoken
from conftest import DEFAULT_COLLECTION, HF_JSON

from rag.load import Paper, load_file

REQUIRED_METADATA = {"paper_id", "title", "chunk_index", "url", "date", "authors", "source"}


def test_tiktoken_is_served_from_the_local_cache(default_chat, cache_dir):
    default_chat.chunker  # noqa: B018  (installs the BPE files)
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(cache_dir / "tiktoken")
    assert len(list((cache_dir / "tiktoken").iterdir())) == 2
    assert tiktoken.get_encoding("cl100k_base").encode("hello world") == [15339, 1917]


def test_every_chunk_fits_the_window_and_is_titled(default_chat):
    chunker, model = default_chat.chunker, default_chat.embeddings
    encoding = tiktoken.get_encoding("cl100k_base")
    papers = load_file(DEFAULT_COLLECTION).papers + load_file(HF_JSON).papers
    boundaries = overlapping = 0
    for paper in papers:
        chunks = chunker.split(paper)
        assert [c.index for c in chunks] == list(range(len(chunks)))
        for chunk in chunks:
            assert chunk.text.startswith(paper.title + "\n\n")
            assert model.fits_window(chunk.text), chunk.chunk_id
            assert len(encoding.encode(chunk.piece)) <= default_chat.settings.chunk.tokens
            assert chunk.metadata.keys() >= REQUIRED_METADATA
            assert chunk.metadata["paper_id"] == paper.paper_id
        assert set(paper.abstract.split()) <= {w for c in chunks for w in c.piece.split()}
        for before, after in itertools.pairwise(chunks):
            boundaries += 1
            overlapping += before.piece.split()[-1] in after.piece
    # Overlap is in whole sentences: every sentence that fits the overlap budget is repeated.
    assert boundaries > 100
    assert overlapping / boundaries >= 0.7


def test_a_title_too_long_for_the_window_still_fits(default_chat):
    paper = Paper(title="Long " * 55, abstract=" ".join(f"word{i}." for i in range(400)))
    chunks = default_chat.chunker.split(paper)
    assert all(default_chat.embeddings.fits_window(c.text) for c in chunks)
    assert len({c.chunk_id for c in chunks}) == len(chunks)
