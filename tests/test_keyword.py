"""The incremental BM25 index: bm25s's scores, updates equal to a rebuild, damage detected."""

from __future__ import annotations

import logging
import random

import bm25s
import numpy as np
import pytest
from conftest import DEFAULT_COLLECTION

from rag import keyword
from rag.keyword import KeywordIndex, tokenize
from rag.load import Paper, load_file

QUERIES = [
    "reward overoptimization",
    "sharpness-aware minimization",
    "diffusion models for images",
    "regret bounds for bandits",
    "language model",
]


def chunks_of(papers: list[Paper]) -> list[tuple[str, str, dict]]:
    return [
        (
            f"{p.paper_id}#v-0",
            f"{p.title}\n\n{p.abstract}",
            {"paper_id": p.paper_id, "title": p.title, "source": p.source, "date_num": 0},
        )
        for p in papers
    ]


@pytest.fixture(scope="module")
def default_chunks():
    return chunks_of(load_file(DEFAULT_COLLECTION).papers)


def scores(index: KeywordIndex, query: str) -> dict[str, float]:
    return dict(index.search(query, 1000, None))


def test_scores_are_bm25s_lucene_scores(tmp_path, default_chunks):
    index = KeywordIndex(tmp_path / "kw")
    index.rebuild([default_chunks], "g1")
    reference = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
    reference.index(tokenize([text for _, text, _ in default_chunks]), show_progress=False)
    for query in QUERIES:
        ours = index.search(query, 10, None)
        ids, theirs = reference.retrieve([tokenize([query])[0]], k=10, show_progress=False)
        expected = [
            (default_chunks[i][0], s) for i, s in zip(ids[0], theirs[0], strict=True) if s > 0
        ]
        assert [c for c, _ in ours] == [c for c, _ in expected], query
        assert np.allclose([s for _, s in ours], [s for _, s in expected], rtol=1e-5)


@pytest.mark.parametrize("merge_limit", [keyword.MERGE_LIMIT, 16])
def test_random_updates_score_like_a_rebuild_and_survive_a_reload(
    tmp_path, default_chunks, monkeypatch, merge_limit
):
    monkeypatch.setattr(keyword, "MERGE_LIMIT", merge_limit)
    rng = random.Random(7)
    index = KeywordIndex(tmp_path / "kw")
    index.clear("g0")
    live: dict[str, tuple[str, str, dict]] = {}
    for step in range(40):
        added = rng.sample(default_chunks, rng.randint(0, 6))  # re-adding replaces
        removed = rng.sample(sorted(live), min(len(live), rng.randint(0, 4)))
        for chunk_id in removed:
            live.pop(chunk_id)
        live.update({c[0]: c for c in added})
        index.update(removed, added, f"g{step + 1}")
        assert sorted(index.chunk_ids()) == sorted(live)
        assert {p.paper_id for p in index.papers()} == {m["paper_id"] for _, _, m in live.values()}
        rebuilt = KeywordIndex(tmp_path / f"rebuilt{step}")
        rebuilt.rebuild([list(live.values())], "r")
        query = QUERIES[step % len(QUERIES)]
        ours, theirs = scores(index, query), scores(rebuilt, query)
        assert ours.keys() == theirs.keys()
        assert all(np.isclose(ours[c], theirs[c], rtol=1e-5) for c in ours)
        assert all(len(segment) <= max(merge_limit, 6) for segment in index.segments)
    assert len(index.segments) <= 8  # small segments were merged as they piled up
    reloaded = KeywordIndex(tmp_path / "kw")
    assert reloaded.load() and reloaded.generation == "g40"
    assert scores(reloaded, "language model") == scores(index, "language model")
    assert {p.paper_id for p in reloaded.papers()} == {m["paper_id"] for _, _, m in live.values()}


def test_many_deletions_compact_the_index(tmp_path, default_chunks):
    index = KeywordIndex(tmp_path / "kw")
    index.update([], default_chunks, "g1")
    index.update([c for c, _, _ in default_chunks[:20]], [], "g2")
    assert len(index.segments) == 1 and not index.dead  # a third deleted: rows dropped
    assert len(index) == len(default_chunks) - 20
    files = {p.name for p in index.directory.iterdir()}
    assert files == {"state.json", *(f"{index.segments[0].name}.{e}" for e in ("npz", "json"))}


def test_filters_mask(tmp_path):
    chunks = [
        (
            "a#1-0",
            "alpha text",
            {
                "paper_id": "a",
                "date_num": 20240105,
                "source": "x.json",
                "authors": "Ada Lovelace; Alan Turing",
            },
        ),
        (
            "b#1-0",
            "alpha text",
            {"paper_id": "b", "date_num": 20230105, "source": "y.json", "authors": "Grace Hopper"},
        ),
        ("c#1-0", "alpha text", {"paper_id": "c", "date_num": 0, "source": "x.json"}),
    ]
    index = KeywordIndex(tmp_path / "kw")
    index.rebuild([chunks], "g")

    def found(dates=None, source="", author=""):
        mask = index.mask(dates, source, author)
        return sorted(chunk_id[0] for chunk_id, _ in index.search("alpha", 10, mask))

    assert found() == ["a", "b", "c"]
    assert found(dates=(20240101, 20241231)) == ["a"]
    assert found(source="x.json") == ["a", "c"]
    assert found(author="turing") == ["a"] and found(author="hop") == ["b"]
    assert index.papers_by_author("a") == ["a", "b"]  # "a" is in Ada, Alan and Grace


@pytest.mark.parametrize("damage", ["truncate segment", "garbage state", "delete segment"])
def test_damaged_index_is_detected_and_rebuilt_from_chroma(chat, make_settings, caplog, damage):
    papers = [Paper(title=f"Quokka study {i}", abstract=f"Quokkas eat leaf{i}.") for i in range(3)]
    chat.ingest(papers)
    directory = chat.keyword.directory
    segment = next(directory.glob("*.npz"))
    if damage == "truncate segment":
        segment.write_bytes(segment.read_bytes()[:40])
    elif damage == "garbage state":
        (directory / "state.json").write_bytes(b"\x00\xff not json")
    else:
        segment.unlink()
    from rag.api import PaperChat

    with caplog.at_level(logging.WARNING):
        fresh = PaperChat(make_settings())
        (hit,) = fresh.search("leaf1", k=1, mode="keyword")
    assert hit.title == "Quokka study 1"
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "keyword index" in messages and "rebuilding" in messages
    assert KeywordIndex(directory).load()  # the rebuilt index was saved whole


def test_an_index_of_an_older_format_is_replaced(tmp_path, caplog):
    directory = tmp_path / "kw"
    (directory / "bm25").mkdir(parents=True)
    (directory / "rows.jsonl").write_text("{}\n")
    (directory / "state.json").write_text('{"format": 3, "generation": "g", "rows": 1}')
    index = KeywordIndex(directory)
    with caplog.at_level(logging.WARNING):
        assert not index.load()
    assert "format 3, expected" in caplog.text
    index.clear("g2")
    assert [p.name for p in directory.iterdir()] == ["state.json"]
    assert KeywordIndex(directory).load()
