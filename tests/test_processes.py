"""Many processes on one data directory, as the README deploys PaperChat: `paperchat serve`
answering while the CLI and cron jobs add and remove papers. Real processes, real HTTP."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import chromadb
import pytest
from conftest import DEFAULT_COLLECTION, HF_JSON, cli_env, free_port, write_jsonl
from fake_hf import DAY1, DAY2, DAY3, FakeHub

from rag.api import PaperChat
from rag.config import Settings
from rag.load import Paper, load_file
from rag.owner import held_elsewhere, read_record
from rag.search import paper_of

pytestmark = pytest.mark.slow  # real `paperchat serve`, ingest and fetch processes side by side

QUESTION = "Which papers address reward overoptimization?"
SEEN_WITHIN = 10.0  # seconds in which the server must see another process's write


@pytest.fixture
def env(tmp_path, cache_dir) -> dict[str, str]:
    return cli_env(tmp_path, cache_dir)


def paperchat(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rag", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start(env: dict, *args: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rag", *args],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )


class Server:
    """`paperchat serve` in a process of its own, asked through gradio_client."""

    def __init__(self, env: dict, tmp_path: Path, *extra: str) -> None:
        from gradio_client import Client

        self.port = free_port()
        self.log = tmp_path / f"serve-{self.port}.log"
        self.process = start(env, "serve", "--port", str(self.port), *extra, log=self.log)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while "running at" not in self.log.read_text():
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "serve did not start in 120 s"
            time.sleep(0.2)
        self.client = Client(self.url, verbose=False)

    def ask(self, question: str) -> dict:
        return self.client.predict(question, [], None, api_name="/chat")

    def cited(self, question: str) -> list[str]:
        return [c["title"] for c in self.ask(question)["citations"]]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def served(env, tmp_path):
    servers: list[Server] = []

    def serve(*extra: str) -> Server:
        servers.append(Server(env, tmp_path, *extra))
        return servers[-1]

    yield serve
    for server in servers:
        server.stop()
        assert "Traceback" not in server.log.read_text(), server.log.read_text()[-3000:]


def eventually(check, within: float = SEEN_WITHIN) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"not seen within {within} s"
        time.sleep(0.5)


def test_the_readme_flow_serve_while_another_process_adds_and_removes(env, served, prepared):
    prepared("default", data_dir(env))
    server = served()
    first = json.loads(HF_JSON.read_text())["papers"][0]
    assert first["title"] not in server.cited(first["title"])

    added = paperchat(env, "ingest", str(HF_JSON))
    assert added.returncode == 0, added.stderr
    assert "50 added" in added.stdout
    eventually(lambda: server.cited(first["title"])[:1] == [first["title"]])

    removed = paperchat(env, "remove", first["id"])
    assert removed.returncode == 0, removed.stderr
    eventually(lambda: first["title"] not in server.cited(first["title"]))
    assert len(server.cited(QUESTION)) >= 2  # the old papers are answered all along

    stats = json.loads(paperchat(env, "stats", "--json").stdout)
    assert stats["papers"] == 59 + 49
    port = read_record(data_dir(env) / "owner.json")["chroma_port"]
    assert stats["chroma"] == f"http://127.0.0.1:{port}"
    assert stats["served_by"].endswith(f"(paperchat serve --port {server.port}) at {server.url}")

    assert paperchat(env, "reset", "--yes").returncode == 0  # the collection made anew
    eventually(lambda: "is empty" in server.ask(QUESTION)["text"])
    assert paperchat(env, "ingest", str(DEFAULT_COLLECTION)).returncode == 0
    eventually(lambda: len(server.cited(QUESTION)) >= 2)


def data_dir(env: dict) -> Path:
    return Path(env["PAPERCHAT_DATA_DIR"])


def renamed_hf_file(path: Path) -> Path:
    """The HF file's papers under other ids and titles, for the fake Daily Papers API: a
    third set of papers, apart from both shipped files."""
    records = json.loads(HF_JSON.read_text())
    for record in records["papers"]:
        record["id"] = "9" + record["id"][1:]
        record["title"] = f"Fetched {record['title']}"
    path.write_text(json.dumps(records))
    return path


def copies_of_both_collections(path: Path) -> tuple[Path, list[Paper]]:
    """A third collection: the shipped papers under other ids and titles."""
    shipped = load_file(DEFAULT_COLLECTION).papers + load_file(HF_JSON).papers
    records = [
        {"id": f"copy-{n}", "title": f"Copy of {p.title}", "abstract": p.abstract}
        for n, p in enumerate(shipped)
    ]
    write_jsonl(path, records)
    return path, load_file(path).papers


def final_state(env: dict) -> PaperChat:
    """The data directory, opened here once every process on it has stopped."""
    return PaperChat(
        Settings(
            data_dir=env["PAPERCHAT_DATA_DIR"], cache_dir=env["PAPERCHAT_CACHE_DIR"], _env_file=None
        )
    )


def check_exact(chat: PaperChat, papers: list[Paper]) -> None:
    """The dense store and the keyword index hold exactly `papers`, each in its one current
    version with all its chunks, and each title finds its paper first."""
    chat.sync_keyword_index()
    assert {p["paper_id"] for p in chat.papers()} == {p.paper_id for p in papers}
    stored = chat.store.collection.get(include=[])["ids"]
    assert sorted(stored) == sorted(chat.keyword.chunk_ids())  # none missing or left over
    versions: dict[str, set[str]] = {}
    indices: dict[str, list[int]] = {}
    for chunk_id in stored:
        paper_id, version, index = paper_of(chunk_id), *chunk_id.rsplit("#", 1)[1].split("-")
        versions.setdefault(paper_id, set()).add(version)
        indices.setdefault(paper_id, []).append(int(index))
    assert all(len(v) == 1 for v in versions.values()), "a paper is stored in two versions"
    for paper in papers:  # every chunk of it, once
        chunks = len(chat.chunker.split(paper))
        assert sorted(indices[paper.paper_id]) == list(range(chunks)), paper.paper_id
    for paper in papers:
        assert chat.search(paper.title, k=1)[0].paper_id == paper.paper_id, paper.title


def test_three_writers_and_a_server_asked_every_half_second(env, served, tmp_path):
    """Two ingests and a Daily Papers fetch, each adding and removing papers in a loop for
    a minute, while the server is asked every 0.5 s: no question fails, and the collection
    ends exact in the dense store and the keyword index alike."""
    fetched_file = renamed_hf_file(tmp_path / "fetched-source.json")
    files = {"default": DEFAULT_COLLECTION, "hf": HF_JSON}
    papers = {name: load_file(path).papers for name, path in files.items()}
    papers["fetch"] = load_file(fetched_file).papers
    server = served()
    failures: list[str] = []
    asked = 0
    deadline = time.monotonic() + 60

    with FakeHub(fetched_file) as hub:
        fetch_env = {**env, "PAPERCHAT_HF_ENDPOINT": hub.url}
        adders = {
            "default": lambda: paperchat(env, "ingest", str(DEFAULT_COLLECTION)),
            "hf": lambda: paperchat(env, "ingest", str(HF_JSON)),
            "fetch": lambda: paperchat(fetch_env, "fetch", "--from", DAY1, "--to", DAY3),
        }

        def writer(name: str) -> None:
            cycle = 0
            while time.monotonic() < deadline:
                done = adders[name]()
                if done.returncode:
                    failures.append(f"{name}: {done.stderr[-500:]}")
                gone = papers[name][cycle % 5 :: 10][:3]
                for paper in gone:
                    removed = paperchat(env, "remove", paper.paper_id)
                    if removed.returncode:
                        failures.append(f"remove {paper.paper_id}: {removed.stderr[-300:]}")
                cycle += 1
            done = adders[name]()  # the last word: every paper of this writer is in
            if done.returncode:
                failures.append(f"{name}: {done.stderr[-500:]}")

        writers = [threading.Thread(target=writer, args=(name,)) for name in adders]
        for thread in writers:
            thread.start()
        while time.monotonic() < deadline or any(t.is_alive() for t in writers):
            started = time.monotonic()
            try:
                answer = server.ask(QUESTION)
                if not answer["text"]:
                    failures.append("an empty answer")
            except Exception as exc:
                failures.append(f"question: {exc}")
            asked += 1
            time.sleep(max(0.0, 0.5 - (time.monotonic() - started)))
        for thread in writers:
            thread.join()
    assert asked >= 60
    assert not failures, failures[:5]
    server.stop()

    check_exact(final_state(env), [p for group in papers.values() for p in group])


def test_a_writer_killed_mid_batch_is_completed_by_the_next_run(env, served, tmp_path, prepared):
    """kill -9 of an ingest while it writes, the server answering throughout: the server
    keeps answering, and the same ingest run again leaves exact counts, no duplicates."""
    generated, copied = copies_of_both_collections(tmp_path / "copies.jsonl")
    prepared("default", data_dir(env))
    server = served()
    port = read_record(data_dir(env) / "owner.json")["chroma_port"]
    collection = chromadb.HttpClient(host="127.0.0.1", port=port).get_collection("papers")
    before = collection.count()

    writer = start(env, "ingest", str(generated), log=tmp_path / "killed.log")
    eventually(lambda: collection.count() > before, within=120)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    written = collection.count() - before
    assert len(server.cited(QUESTION)) >= 2

    again = paperchat(env, "ingest", str(generated))
    assert again.returncode == 0, again.stderr
    server.stop()

    chat = final_state(env)
    check_exact(chat, load_file(DEFAULT_COLLECTION).papers + copied)
    assert 0 < written < chat.store.count() - before  # it was killed part way


def test_a_second_server_refuses_in_one_line_and_a_killed_one_hands_over(env, served):
    first = served()
    second = paperchat(env, "serve", "--port", str(free_port()), timeout=60)
    assert second.returncode == 2
    line = second.stderr.strip()
    assert "\n" not in line and first.url in line and "already serves" in line

    first.process.send_signal(signal.SIGKILL)  # its `chroma run` dies with it
    first.process.wait()
    stats = paperchat(env, "stats", "--json", timeout=60)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["chroma"] == str(data_dir(env) / "chroma")


def test_a_process_waits_for_an_embedded_owner_and_says_so_once(env, tmp_path, prepared):
    prepared("default", data_dir(env))
    holder = subprocess.Popen(  # a notebook, say: it holds the store until close()
        [
            sys.executable,
            "-c",
            "from rag import PaperChat; chat = PaperChat();"
            " print(chat.stats()['papers'], flush=True); input(); chat.close(); input()",
        ],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "59"
        waiting = subprocess.Popen(
            [sys.executable, "-m", "rag", "search", "reward overoptimization", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        said = waiting.stderr.readline()
        assert said.startswith(f"waiting for pid {holder.pid} (python) to finish with ")
        assert waiting.poll() is None  # still waiting
        holder.stdin.write("\n")
        holder.stdin.flush()
        out, rest = waiting.communicate(timeout=120)
    finally:
        holder.kill()
    assert waiting.returncode == 0, rest
    assert not rest.strip()  # said once
    assert json.loads(out)[0]["title"]


def test_two_ingests_at_once_one_waits_and_both_finish(env, tmp_path):
    copies, copied = copies_of_both_collections(tmp_path / "copies.jsonl")
    first = start(env, "ingest", str(DEFAULT_COLLECTION), str(HF_JSON), log=tmp_path / "first.log")
    eventually(lambda: held_elsewhere(data_dir(env) / "owner.lock"), within=60)
    second = start(env, "ingest", str(copies), log=tmp_path / "second.log")
    assert first.wait(timeout=300) == 0 and second.wait(timeout=300) == 0
    said = (tmp_path / "second.log").read_text()
    assert said.count(f"waiting for pid {first.pid} (paperchat ingest ") == 1, said
    assert "waiting" not in (tmp_path / "first.log").read_text()
    papers = load_file(DEFAULT_COLLECTION).papers + load_file(HF_JSON).papers + copied
    check_exact(final_state(env), papers)


def test_serve_fetch_daily_keeps_the_collection_current_without_cron(env, tmp_path):
    with FakeHub(HF_JSON) as hub:
        env = {**env, "PAPERCHAT_HF_ENDPOINT": hub.url}
        assert paperchat(env, "fetch", "--date", DAY1).returncode == 0
        server = Server(env, tmp_path, "--fetch-daily")
        try:
            last = load_file(HF_JSON).papers[-1]  # listed on DAY3
            eventually(lambda: server.cited(last.title)[:1] == [last.title], within=120)
        finally:
            server.stop()
    log = server.log.read_text()
    assert f"Daily Papers {DAY2} to " in log and "30 added" in log
    assert "Traceback" not in log


def test_a_python_chat_follows_the_server_stopping_and_starting_again(env, served, prepared):
    """A notebook open all day: its PaperChat uses the server's store, then its own when the
    server stops, and the server's again after `close()` and a restart."""
    prepared("default", data_dir(env))
    first = served()
    chat = final_state(env)
    assert len(chat.search("reward overoptimization", k=3)) == 3
    assert chat.stats()["served_by"].endswith(first.url)
    first.stop()
    assert len(chat.search("reward overoptimization", k=3)) == 3  # opened it itself
    assert chat.store.embedded
    chat.close()
    second = served()  # starts at once: the notebook let go of the store
    assert len(chat.search("reward overoptimization", k=3)) == 3
    assert chat.stats()["served_by"].endswith(second.url)
    chat.close()
