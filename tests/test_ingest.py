"""Ingest: idempotent, replaces changed papers, survives bad files and a SIGKILL."""

from __future__ import annotations

import json
import logging
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
from rag.ingest import IngestReport, PaperNotFound
from rag.load import LoadError, Paper, Skipped, load_file
from rag.search import content_hash_of, paper_of
from rag.split import split_sentences, version_prefix


def hf_records(count: int) -> list[dict]:
    return json.loads(HF_JSON.read_text())["papers"][:count]


def assert_consistent(chat: PaperChat) -> None:
    """Chroma holds exactly the chunks the papers split into, BM25 mirrors Chroma, and the
    sentences answers quote are those of the current version of each paper."""
    stored = {c.chunk_id: c for page in chat.store.pages() for c in page}
    assert len(stored) == chat.store.count()
    keyword_ids = chat.keyword.chunk_ids()
    assert set(keyword_ids) == set(stored)
    assert len(keyword_ids) == len(chat.keyword) == len(stored)
    by_paper: dict[str, list] = {}
    for chunk in stored.values():
        by_paper.setdefault(str(chunk.metadata["paper_id"]), []).append(chunk)
    versions = {}
    for paper_id, chunks in by_paper.items():
        hashes = {content_hash_of(c.chunk_id) for c in chunks}
        assert len(hashes) == 1, f"{paper_id} has chunks of two versions"
        assert {c.metadata["chunk_count"] for c in chunks} == {len(chunks)}, paper_id
        versions[paper_id] = hashes.pop()
    for paper_id in sorted(by_paper)[:10]:  # quoting a paper embeds and keeps its sentences
        (count,) = {c.metadata["sentence_count"] for c in by_paper[paper_id]}
        sentences = chat.store.sentences({paper_id: versions[paper_id]})[paper_id]
        assert [s.index for s in sentences] == list(range(count))
    for sentence_id in chat.store.sentence_collection.get(include=[])["ids"]:
        paper_id = paper_of(sentence_id)
        current = version_prefix(paper_id, versions[paper_id])
        assert sentence_id.startswith(f"{current}s"), f"stale sentence {sentence_id}"


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
    with pytest.raises(PaperNotFound, match=f"no paper with id '{papers[0].paper_id}'"):
        chat.remove(papers[0].paper_id)
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
    assert report.nothing_ingested
    assert not chat.ingest([good, bad]).nothing_ingested  # the good papers are kept unchanged
    assert chat.store.count() == before
    with pytest.raises(LoadError, match="no such file"):
        chat.ingest([good, tmp_path / "missing.csv"])
    assert chat.store.count() == before


def test_summary_counts_files_of_other_types_only_when_there_are_some():
    assert "ignored" not in IngestReport().summary()
    assert ", 1 file of another type ignored (" in IngestReport(ignored=["a.pdf"]).summary()


def test_skipped_lines_are_grouped_by_file_and_reason():
    bad_text = [Skipped("x.jsonl", f"line {n}", "not valid UTF-8 text") for n in range(1, 6)]
    no_abstract = Skipped("x.jsonl", "line 9", "missing abstract")
    report = IngestReport(skipped=[*bad_text[:2], no_abstract, *bad_text[2:]])
    assert report.skipped_lines(limit=2) == [
        "x.jsonl, line 1: not valid UTF-8 text",
        "x.jsonl, line 2: not valid UTF-8 text",
        "3 more lines of x.jsonl: not valid UTF-8 text",
        "x.jsonl, line 9: missing abstract",
    ]
    assert len(report.skipped_lines(limit=5)) == 6
    assert report.skipped_lines(limit=4)[4] == "1 more line of x.jsonl: not valid UTF-8 text"


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


def synthetic_records(count: int) -> list[dict]:
    """`count` short papers (one chunk each) made of real abstract sentences and a marker."""
    pool = [s for r in hf_records(50) for s in split_sentences(r["summary"]) if len(s) < 300]
    return [
        {
            "title": f"Synthetic study {i} on {pool[i % len(pool)].split()[1]}",
            "abstract": f"{pool[i % len(pool)]} {pool[(7 * i + 3) % len(pool)]} Marker m{i:04d}x.",
            "date": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
        }
        for i in range(count)
    ]


@pytest.mark.slow
def test_killed_ingest_of_1k_papers_is_completed_by_the_next_run(
    make_settings, tmp_path, cache_dir
):
    settings = make_settings()
    path = write_jsonl(tmp_path / "1k.jsonl", synthetic_records(1000))
    env = {
        **os.environ,
        "PAPERCHAT_DATA_DIR": str(settings.data_dir),
        "PAPERCHAT_CACHE_DIR": str(cache_dir),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "rag", "-v", "ingest", str(path)],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
    )
    # Kill it in its third group of papers, after two were written and keyword-indexed.
    seen, embedded = [], None
    deadline = time.monotonic() + 180
    for line in process.stderr:
        seen.append(line)
        embedded = re.search(r"embedded (\d+)/", line) or embedded
        if (embedded and int(embedded.group(1)) >= 600) or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert embedded and int(embedded.group(1)) >= 600, "".join(seen)

    chat = PaperChat(settings)
    assert 600 <= chat.store.count() < 1000
    assert chat.sync_keyword_index()  # the killed run left it behind Chroma
    report = chat.ingest(path)
    assert len(report.added) + len(report.unchanged) == 1000
    assert report.updated == [] and report.skipped == []
    papers = load_file(path).papers
    expected = sum(len(chat.chunker.split(p)) for p in papers)
    assert chat.store.count() == expected
    assert 0 < report.chunks_written < expected  # what the killed run stored was kept
    assert chat.stats()["papers"] == 1000
    assert_consistent(chat)
    (hit,) = chat.search("m0734x", k=1, mode="keyword")
    assert hit.title == papers[734].title
    assert chat.ingest(path).chunks_written == 0


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


def test_a_second_process_on_the_data_directory_reloads_instead_of_rebuilding(
    chat, make_settings, caplog
):
    chat.ingest([Paper(title="Quokka study", abstract="Quokkas are small marsupials.")])
    reader = PaperChat(make_settings())  # e.g. the web UI, while the CLI ingests
    assert reader.search("marsupials", k=1)[0].title == "Quokka study"
    chat.ingest([Paper(title="Wombat study", abstract="Wombats dig burrows.")])
    with caplog.at_level(logging.WARNING):
        assert not reader.sync_keyword_index()
        assert reader.search("burrows", k=1, mode="keyword")[0].title == "Wombat study"
    assert "rebuilding" not in caplog.text
