"""Keyword search: a BM25 index (bm25s) kept beside Chroma, with the metadata to filter on.

Local Chroma has no sparse index, so this one is derived from the chunks in Chroma. It is
saved under the data directory with the Chroma `generation` it reflects; when the two differ
(another machine wrote to a shared server, or an ingest was killed) it is rebuilt from Chroma.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG on itself
STEMMER = Stemmer.Stemmer("english")
STOPWORDS = frozenset(STOPWORDS_EN) | {"paper", "papers", "which", "what", "how", "does", "do"}
FORMAT_VERSION = 3


@dataclass(frozen=True)
class Row:
    """What the keyword index knows of one chunk."""

    chunk_id: str
    paper_id: str
    title: str
    date_num: int
    source: str
    authors: str
    tokens: list[str]


HYPHENATED = re.compile(r"\b([A-Za-z]+)-([A-Za-z]+)\b")


def with_joined_compounds(text: str) -> str:
    """ "auto-encoder" also as "autoencoder", so either spelling finds the other."""
    joined = [a + b for a, b in HYPHENATED.findall(text)]
    return f"{text} {' '.join(joined)}" if joined else text


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-cased, English stop words removed, Snowball-stemmed words."""
    return bm25s.tokenize(
        [with_joined_compounds(t) for t in texts],
        stopwords=list(STOPWORDS),
        stemmer=STEMMER,
        return_ids=False,
        show_progress=False,
    )


def make_rows(chunks: Iterable[tuple[str, str, dict]]) -> list[Row]:
    """Rows from (chunk_id, text, Chroma metadata) triples."""
    chunks = list(chunks)
    token_lists = tokenize([text for _, text, _ in chunks])
    return [
        Row(
            chunk_id=chunk_id,
            paper_id=str(metadata["paper_id"]),
            title=str(metadata.get("title") or ""),
            date_num=int(metadata.get("date_num") or 0),
            source=str(metadata.get("source") or ""),
            authors=str(metadata.get("authors") or "").casefold(),
            tokens=tokens,
        )
        for (chunk_id, _, metadata), tokens in zip(chunks, token_lists, strict=True)
    ]


class KeywordIndex:
    """BM25 over chunk texts, saved in `directory` and replaced whole on each save."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.rows: list[Row] = []
        self.generation = ""
        self.bm25: bm25s.BM25 | None = None

    def load(self) -> bool:
        """Read the saved index; False when it is missing or unreadable."""
        try:
            state = json.loads((self.directory / "state.json").read_text())
            if state.get("format") != FORMAT_VERSION:
                return False
            with (self.directory / "rows.jsonl").open() as lines:
                rows = [Row(**json.loads(line)) for line in lines]
            if len(rows) != state["rows"]:
                return False
            bm25 = (
                bm25s.BM25.load(str(self.directory / "bm25"), show_progress=False) if rows else None
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if self.directory.exists():
                log.warning("keyword index in %s is unreadable (%s)", self.directory, exc)
            return False
        self.rows, self.generation, self.bm25 = rows, state["generation"], bm25
        return True

    def replace(self, rows: list[Row], generation: str) -> None:
        """Make `rows` the whole index and save it."""
        self.rows, self.generation = rows, generation
        self.bm25 = None
        if rows:
            self.bm25 = bm25s.BM25()
            self.bm25.index([row.tokens for row in rows], show_progress=False)
        self._save()

    def update(self, removed: set[str], added: list[Row], generation: str) -> None:
        """Drop the chunks in `removed`, add `added` (replacing same ids), re-index and save."""
        replaced = removed | {row.chunk_id for row in added}
        self.replace([row for row in self.rows if row.chunk_id not in replaced] + added, generation)

    def _save(self) -> None:
        """Write beside the old index, then swap directories: a kill leaves one whole index."""
        fresh = self.directory.with_name(self.directory.name + ".new")
        stale = self.directory.with_name(self.directory.name + ".old")
        for leftover in (fresh, stale):
            shutil.rmtree(leftover, ignore_errors=True)
        fresh.mkdir(parents=True)
        if self.bm25 is not None:
            self.bm25.save(str(fresh / "bm25"), show_progress=False)
        with (fresh / "rows.jsonl").open("w") as out:
            for row in self.rows:
                out.write(json.dumps(asdict(row)) + "\n")
        state = {"format": FORMAT_VERSION, "generation": self.generation, "rows": len(self.rows)}
        (fresh / "state.json").write_text(json.dumps(state))
        if self.directory.exists():
            self.directory.rename(stale)
        fresh.rename(self.directory)
        shutil.rmtree(stale, ignore_errors=True)

    def paper_frequency(self, term: str) -> int:
        """In how many papers the (stemmed) term occurs, read off the BM25 postings."""
        if self.bm25 is None or term not in self.bm25.vocab_dict:
            return 0
        column, scores = self.bm25.vocab_dict[term], self.bm25.scores
        rows = scores["indices"][scores["indptr"][column] : scores["indptr"][column + 1]]
        return len({self.rows[row].paper_id for row in rows})

    def search(self, query: str, n: int, mask: np.ndarray | None) -> list[tuple[Row, float]]:
        """Up to `n` chunks with a positive BM25 score, best first; `mask` zeroes rows out."""
        if self.bm25 is None or n <= 0:
            return []
        tokens = [t for t in tokenize([query])[0] if t in self.bm25.vocab_dict]
        if not tokens:
            return []
        n = min(n, len(self.rows))
        ids, scores = self.bm25.retrieve(
            [tokens], k=n, show_progress=False, n_threads=0, weight_mask=mask
        )
        return [(self.rows[i], float(s)) for i, s in zip(ids[0], scores[0], strict=True) if s > 0]
