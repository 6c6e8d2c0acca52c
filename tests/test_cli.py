"""The `paperchat` command, run as a user runs it."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import DEFAULT_COLLECTION, free_port, write_jsonl
from fake_openai import Reply

from rag.question import ENGLISH_ONLY

pytestmark = pytest.mark.slow  # the `paperchat` command, each call a process of its own


def test_ingest_search_stats_remove_reset(run, tmp_path):
    path = write_jsonl(
        tmp_path / "papers.jsonl",
        [
            {
                "id": "2310.02743",
                "title": "Reward Model Ensembles Help Mitigate Overoptimization",
                "abstract": "Learned reward models are susceptible to overoptimization.",
                "authors": ["Thomas Coste"],
                "date": "2023-10-04",
            },
            {
                "title": "Sharpness-Aware Training for Free",
                "abstract": "Sharpness-aware minimization improves generalization.",
            },
            {"title": "Missing abstract"},
        ],
    )
    ingested = run("ingest", str(path), "--json")
    assert ingested.returncode == 0, ingested.stderr
    report = json.loads(ingested.stdout)
    assert len(report["added"]) == 2
    assert report["skipped"] == [
        {"source": "papers.jsonl", "location": "line 3", "reason": "missing abstract"}
    ]

    searched = run("search", "reward overoptimization", "-k", "1", "--json")
    (hit,) = json.loads(searched.stdout)
    assert hit["paper_id"] == "2310.02743" and hit["url"] == "https://arxiv.org/abs/2310.02743"

    by_author = json.loads(run("search", "sharpness", "--author", "coste", "--json").stdout)
    assert [h["paper_id"] for h in by_author] == ["2310.02743"]
    assert "No matching papers" in run("search", "sharpness", "--author", "nobody").stdout

    stats = json.loads(run("stats", "--json").stdout)
    assert (stats["papers"], stats["sources"]) == (2, {"papers.jsonl": 2})

    removed = run("remove", "2310.02743", "--json")
    assert json.loads(removed.stdout) == {"paper_id": "2310.02743", "chunks_deleted": 1}
    missing = run("remove", "2310.02743", "--json")
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr == "error: no paper with id '2310.02743' in the collection\n"
    assert run("reset").returncode == 2
    assert run("reset", "--yes").returncode == 0
    assert json.loads(run("stats", "--json").stdout)["papers"] == 0


def test_human_output_and_interactive_search(run):
    ingested = run("ingest", str(DEFAULT_COLLECTION))
    assert "59 added, 0 updated, 0 unchanged, 0 skipped (153 chunks written" in (ingested.stdout)
    shown = run("search", "reward overoptimization").stdout
    assert (
        re.search(r"┃ # +┃ fused +┃ similarity +┃ paper", shown)
        and "Ranked by fused score" in shown
    )
    rows = re.findall(r"^│ (\d+) +│ ([\d.]+) +│ ([\d.-]+) +│", shown, re.MULTILINE)
    fused = [float(f) for _, f, _ in rows]
    assert [int(rank) for rank, _, _ in rows] == list(range(1, 6))
    assert fused == sorted(fused, reverse=True)  # the fused column orders the rows
    hits = json.loads(run("search", "reward overoptimization", "--json").stdout)
    assert fused == [round(h["fused"], 4) for h in hits]
    assert [float(s) for _, _, s in rows] == [round(h["score"], 3) for h in hits]
    session = run("search", stdin="reward overoptimization\n\n")
    assert session.returncode == 0
    assert "Reward Model Ensembles Help Mitigate Overoptimization" in session.stdout


def test_settings_errors_are_one_line_naming_the_variable(run):
    result = run("stats", PAPERCHAT_CHROMA_COLLECTION="hf", PAPERCHAT_SEARCH_K="0")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: PAPERCHAT_CHROMA_COLLECTION must have at least 3 characters, got 'hf'; "
        "PAPERCHAT_SEARCH_K must be greater than or equal to 1, got '0'"
    ]


def test_ingest_of_nothing_readable_fails(run, tmp_path):
    (tmp_path / "binary.json").write_bytes(bytes(range(128, 256)) * 8)
    result = run("ingest", "binary.json")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "skipped binary.json, line 1: not valid UTF-8 text",
        "error: nothing ingested: every record of binary.json was skipped",
    ]
    as_json = run("ingest", "binary.json", "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["added"] == []


def test_folder_ingest_counts_and_lists_files_of_other_types(run, tmp_path):
    folder = tmp_path / "papers"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [{"title": "Quokkas", "abstract": "Quokkas smile."}])
    (folder / "notes.pdf").write_bytes(b"%PDF")
    (folder / "README").write_text("about these papers")
    verbose = run("-v", "ingest", "papers")
    assert verbose.returncode == 0, verbose.stderr
    assert "1 added, 0 updated, 0 unchanged, 0 skipped, 2 files of other types ignored" in (
        verbose.stdout
    )
    for name in ("README", "notes.pdf"):
        assert f"ignored papers/{name}: not a collection file type" in verbose.stderr
    report = json.loads(run("ingest", "papers", "--json").stdout)
    assert report["ignored"] == ["papers/README", "papers/notes.pdf"]


def test_many_skipped_lines_are_summed_up(run, tmp_path):
    (tmp_path / "x.jsonl").write_bytes(b"\xff\xfe not text\n" * 50)
    result = run("ingest", "x.jsonl")
    assert result.stderr.strip().splitlines() == [
        "skipped x.jsonl, line 1: not valid UTF-8 text",
        "skipped x.jsonl, line 2: not valid UTF-8 text",
        "skipped x.jsonl, line 3: not valid UTF-8 text",
        "skipped 47 more lines of x.jsonl: not valid UTF-8 text",
        "error: nothing ingested: every record of x.jsonl was skipped",
    ]
    assert len(json.loads(run("ingest", "x.jsonl", "--json").stdout)["skipped"]) == 50


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ingest", "nowhere.json"), "nowhere.json: no such file or directory"),
        (("search", "   "), "the query is empty"),
        (("search", "x", "--from", "yesterday"), "--from must be an ISO date (YYYY-MM-DD)"),
        (("ask", "x", "--from", "2026-13-45"), "--from must be an ISO date (YYYY-MM-DD), got"),
        (("ask", "x", "--to", "2026-13-45"), "--to must be an ISO date (YYYY-MM-DD), got '2026"),
        (("search", "x", "--mode", "fuzzy"), "--mode must be hybrid, dense or keyword"),
        (
            ("search", "x", "--from", "2026-10-05", "--to", "2026-10-01"),
            "--to must not be before 2026-10-05, got '2026-10-01'",
        ),
        (("ask", "x", "--dated", "arxiv"), "--dated must be published or listed, got 'arxiv'"),
    ],
)
def test_clear_errors(run, args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_ask_and_chat(run, prepared, tmp_path):
    prepared("default", tmp_path / "data")
    asked = run("ask", "Which papers address reward overoptimization?", "--json")
    answer = json.loads(asked.stdout)
    assert answer["answerer"] == "extractive" and len(answer["citations"]) == 2
    shown = run("ask", "What accuracy does Lyra reach on miniF2F?")
    assert "48.0% -> 55.3%" in shown.stdout and "answered by offline extractive" in shown.stdout
    assert "Sources" in shown.stdout
    session = run("chat", stdin="What is MEND?\nHow long does it take to train?\n\n")
    assert session.returncode == 0
    assert session.stdout.count("Fast Model Editing at Scale") >= 4  # both answers and sources
    assert "less than a day" in session.stdout.split("you>")[2]
    later = json.loads(run("ask", "What is MEND?", "--from", "2030-01-01", "--json").stdout)
    assert (
        later["abstained"] and "Only papers dated from 2030-01-01 were searched." in (later["text"])
    )
    empty = run("ask", "  ")
    assert empty.returncode == 2 and "the question is empty" in empty.stderr


def test_ask_shows_every_notice(run, tmp_path, fake):
    record = {
        "title": "Reward Model Ensembles Help Mitigate Overoptimization",
        "abstract": "Learned reward models are susceptible to overoptimization.",
    }
    run("ingest", str(write_jsonl(tmp_path / "papers.jsonl", [record])))
    question = "哪些论文研究奖励过度优化"
    assert ENGLISH_ONLY in run("ask", question).stdout
    assert json.loads(run("ask", question, "--json").stdout)["notices"] == [ENGLISH_ONLY]
    claim = "Learned reward models are susceptible to overoptimization"
    fake.script(Reply(text=f"{claim} [1][7]. {claim} [1]."))  # [7] is no source; a repeat
    fake.models = [{"id": "m", "object": "model"}]  # the model the server says it serves
    llm = {"OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": "sk-test", "PAPERCHAT_LLM_MODEL": "m"}
    shown = run("ask", "What are learned reward models susceptible to?", **llm).stdout
    assert f"{claim} [1]." in shown and "answered by m" in shown
    assert "Removed 1 citation(s) to sources that do not exist." in shown
    assert "left out 1 repeated" in shown  # a notice that comes after the text


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({}, ("--host", "0.0.0.0"), "set PAPERCHAT_AUTH=user:password, or pass --no-auth"),
        ({"PAPERCHAT_AUTH": "nopassword"}, ("--host", "0.0.0.0"), "must be user:password"),
    ],
)
def test_serve_refuses_to_open_the_network_without_a_login(run, env, args, message):
    result = run("serve", *args, **env)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())


def test_serve_says_where_it_runs_without_gradios_share_hint(run, tmp_path, cache_dir):
    record = {"title": "Quokkas", "abstract": "Quokkas smile at tourists."}
    run("ingest", str(write_jsonl(tmp_path / "papers.jsonl", [record])))
    port = free_port()
    env = {
        **os.environ,
        "PAPERCHAT_DATA_DIR": str(tmp_path / "data"),
        "PAPERCHAT_CACHE_DIR": str(cache_dir),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "rag", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in server.stdout], daemon=True
    ).start()
    expected = f"PaperChat is running at http://127.0.0.1:{port} — press Ctrl+C to stop"
    seen: list[str] = []
    deadline = time.monotonic() + 120
    try:
        while expected not in "".join(seen):
            seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
    except queue.Empty:
        pytest.fail(f"no address within 120 s; the output was: {''.join(seen)}")
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl+C
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()  # no server outlives the test, whatever failed
            raise
    with contextlib.suppress(queue.Empty):
        while True:
            seen.append(lines.get(timeout=2))
    assert "share=True" not in "".join(seen)
    assert server.returncode == 0 and "PaperChat stopped." in "".join(seen)
    assert "Keyboard interruption" not in "".join(seen)


def test_serve_on_a_taken_port_is_one_line(run):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port))
    assert result.returncode == 2, result.stderr
    assert f"cannot serve on 127.0.0.1:{port}" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_ui_auth_rules():
    from rag.cli.serve import ui_auth

    assert ui_auth("127.0.0.1", False, None) is None
    assert ui_auth("10.1.2.3", False, "ann:s3cret") == ("ann", "s3cret")
    assert ui_auth("0.0.0.0", True, None) is None  # allowed, with a warning


def test_themes_and_collection_questions(run, prepared, tmp_path):
    prepared("hf", tmp_path / "data")
    themes = json.loads(run("themes", "--json").stdout)
    assert sum(len(t["papers"]) for t in themes) == 50 and all(t["name"] for t in themes)
    monday = json.loads(
        run("themes", "--from", "2026-09-28", "--to", "2026-09-28", "--json").stdout
    )
    assert sum(len(t["papers"]) for t in monday) == 4
    shown = run("themes")
    assert re.search(r"50 papers in \d+ themes", shown.stdout) and "1. " in shown.stdout
    bad = run("themes", "--from", "2026-13-01")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    code = json.loads(run("ask", "Which papers have code on GitHub?", "--json").stdout)
    assert len(code["citations"]) == 32 and code["outcome"] == "answered"
    table = run("ask", "compare honeycomb and loci in a table")
    assert "| Paper | Problem | Approach | Data or setting | Main result |" in table.stdout
