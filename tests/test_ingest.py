"""Ingest: idempotent, replaces changed papers, survives bad files and a SIGKILL."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DEFAULT_COLLECTION, HF_JSON, write_jsonl

from rag.api import PaperChat
from rag.load import LoadError, Paper, load_file
from rag.split import Chunker


def hf_records(count: int) -> list[dict]:
    return json.loads(HF_JSON.read_text())["papers"][:count]


def assert_consistent(chat: PaperChat) -> None:
    """Chroma holds exactly the chunks the papers split into, and BM25 mirrors Chroma."""
    stored = {c.chunk_id: c for c in chat.store.walk()}
    assert len(stored) == chat.store.count()
    assert {r.chunk_id for r in chat.keyword.rows} == set(stored)
    assert len(chat.keyword.rows) == len(stored)
    papers = {str(c.metadata["paper_id"]) for c in stored.values()}
    for paper_id in papers:
        ids = [i for i, c in stored.items() if c.metadata["paper_id"] == paper_id]
        hashes = {i.rsplit("#", 1)[1].split("-")[0] for i in ids}
        assert len(hashes) == 1, f"{paper_id} has chunks of two versions"
        counts = {c.metadata["chunk_count"] for i, c in stored.items() if i in ids}
        assert counts == {len(ids)}, f"{paper_id} is missing chunks"
        (sentences,) = {c.metadata["sentence_count"] for i, c in stored.items() if i in ids}
        stored_sentences = chat.store.sentences([paper_id])[paper_id]
        assert [s.index for s in stored_sentences] == list(range(sentences))
    assert chat.store.sentence_collection.count() == sum(
        c.metadata["sentence_count"] for c in stored.values() if c.metadata["chunk_index"] == 0
    )


def test_reingest_writes_nothing(default_chat):
    before = default_chat.store.count()
    report = default_chat.ingest(DEFAULT_COLLECTION)
    assert (len(report.added), len(report.updated), len(report.unchanged)) == (0, 0, 59)
    assert report.chunks_written == report.chunks_deleted == 0
    assert default_chat.store.count() == before
    assert_consistent(default_chat)


def test_changed_abstract_is_replaced_not_duplicated(chat, tmp_path):
    records = hf_records(3)
    path = write_jsonl(
        tmp_path / "papers.jsonl",
        [{"id": r["id"], "title": r["title"], "abstract": r["summary"]} for r in records],
    )
    assert len(chat.ingest(path).added) == 3
    old_ids = set(chat.store.paper_rows(records[1]["id"])[0])

    records[1]["summary"] = "Zanzibar quokkas improve retrieval. " + records[1]["summary"][:300]
    write_jsonl(
        path, [{"id": r["id"], "title": r["title"], "abstract": r["summary"]} for r in records]
    )
    report = chat.ingest(path)
    assert report.updated == [records[1]["id"]]
    assert len(report.unchanged) == 2
    new_ids = set(chat.store.paper_rows(records[1]["id"])[0])
    assert new_ids and not (new_ids & old_ids)
    assert_consistent(chat)
    (hit,) = chat.search("zanzibar quokkas", k=1, mode="keyword")
    assert hit.paper_id == records[1]["id"]
    assert "Zanzibar" in hit.text


def test_remove_and_reset(chat):
    papers = [
        Paper(title=f"Paper {i}", abstract=f"Abstract number {i} about topic{i}.") for i in range(3)
    ]
    chat.ingest(papers)
    assert chat.remove(papers[0].paper_id) == 1
    assert chat.remove(papers[0].paper_id) == 0
    assert chat.store.paper_rows(papers[0].paper_id) == ([], [])
    assert chat.stats()["papers"] == 2
    assert not chat.search("topic0", mode="keyword")
    assert_consistent(chat)
    chat.reset()
    assert chat.stats()["papers"] == chat.store.count() == 0
    assert chat.search("topic1") == []


def test_bad_file_is_reported_and_loses_nothing(chat, tmp_path):
    good = write_jsonl(
        tmp_path / "good.jsonl",
        [{"title": r["title"], "abstract": r["summary"]} for r in hf_records(2)],
    )
    chat.ingest(good)
    before = chat.store.count()
    bad = tmp_path / "bad.json"
    bad.write_text('{"papers": [{"title": "x"')
    report = chat.ingest([bad])
    assert report.added == [] and len(report.skipped) == 1
    assert "bad.json" in str(report.skipped[0]) and "invalid JSON" in str(report.skipped[0])
    assert chat.store.count() == before
    with pytest.raises(LoadError, match="no such file"):
        chat.ingest([good, tmp_path / "missing.csv"])
    assert chat.store.count() == before


def test_duplicates_within_one_ingest_are_skipped(chat, tmp_path):
    record = {"title": "Same paper", "abstract": "Same text."}
    a = write_jsonl(tmp_path / "a.jsonl", [record])
    b = write_jsonl(tmp_path / "b.jsonl", [record])
    report = chat.ingest([a, b])
    assert len(report.added) == 1
    (skipped,) = report.skipped
    assert skipped.source == "b.jsonl" and "duplicate" in skipped.reason


def test_lost_keyword_index_is_rebuilt_from_chroma(chat, make_settings, tmp_path):
    chat.ingest([Paper(title="Quokka study", abstract="Quokkas are small marsupials.")])
    shutil.rmtree(chat.keyword.directory)
    fresh = PaperChat(make_settings())
    (hit,) = fresh.search("marsupials", k=1, mode="keyword")
    assert hit.title == "Quokka study"
    assert_consistent(fresh)


def test_killed_ingest_is_completed_by_the_next_run(make_settings, tmp_path, cache_dir):
    settings = make_settings()
    env = {
        **os.environ,
        "PAPERCHAT_DATA_DIR": str(settings.data_dir),
        "PAPERCHAT_CACHE_DIR": str(cache_dir),
        "PAPERCHAT_EMBEDDING_BATCH_SIZE": "8",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "rag", "-v", "ingest", str(HF_JSON)],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
    )
    # Kill it once every sentence and a few chunks are stored: mid-way through the chunks.
    sentences = sum(len(Chunker.sentences(p)) for p in load_file(HF_JSON).papers)
    seen = []
    deadline = time.monotonic() + 120
    for line in process.stderr:
        seen.append(line)
        embedded = re.search(r"embedded (\d+)/", line)
        if (embedded and int(embedded.group(1)) > sentences + 16) or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert embedded and int(embedded.group(1)) > sentences + 16, "".join(seen)

    chat = PaperChat(settings)
    assert chat.store.count() > 0
    assert chat.sync_keyword_index()  # the killed run left it behind Chroma
    report = chat.ingest(HF_JSON)
    assert len(report.added) + len(report.unchanged) == 50
    assert report.updated == []
    papers = load_file(HF_JSON).papers
    expected = sum(len(chat.chunker.split(p)) for p in papers)
    assert chat.store.count() == expected
    assert 0 < report.chunks_written < expected  # what the killed run stored was kept
    assert chat.stats()["papers"] == 50
    assert_consistent(chat)
    assert chat.ingest(HF_JSON).chunks_written == 0


def test_papers_from_python_objects(chat):
    paper = Paper(
        title="Objects work",
        abstract="Ingesting Paper objects directly.",
        authors=("A. Person",),
        date="2024-05-06",
    )
    report = chat.ingest([paper])
    assert report.added == [paper.paper_id]
    (hit,) = chat.search("ingesting objects", k=1)
    assert (hit.title, hit.authors, hit.date) == ("Objects work", ["A. Person"], "2024-05-06")


def test_stats_counts(default_chat):
    stats = default_chat.stats()
    assert stats["papers"] == 59
    assert stats["chunks"] == default_chat.store.count() > 59
    assert stats["sources"] == {"daily_papers.txt": 59}
    assert stats["disk_bytes"] > 0
    assert Path(stats["chroma"]).is_dir()
