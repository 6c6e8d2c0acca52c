"""Shared fixtures: real Chroma, the real embedding model, and a guard against network use."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

import rag  # noqa: F401  (switches telemetry off before anything else is imported)
from rag.api import PaperChat
from rag.config import ChromaSettings, Settings
from rag.load import load_file
from rag.owner import free_port
from rag.split import split_sentences

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_COLLECTION = ROOT / "data" / "daily_papers.txt"
HF_JSON = ROOT / "data" / "hf_daily_papers_2026-10-03.json"
BIN = Path(sys.executable).parent

outside_connections: list[str] = []
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _is_local(address) -> bool:
    if not isinstance(address, tuple):  # unix sockets
        return True
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded(original):
    def connect(self, address):
        if not _is_local(address):
            outside_connections.append(repr(address))
            raise OSError(f"test network guard: connection to {address!r} refused")
        return original(self, address)

    return connect


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any connection that leaves this machine fails the test (telemetry included)."""
    monkeypatch.setattr(socket.socket, "connect", _guarded(_connect))
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded(_connect_ex))
    outside_connections.clear()
    yield
    assert not outside_connections, f"tried to reach the network: {outside_connections}"


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory, worker_id) -> Path:
    """A folder every pytest-xdist worker of this run sees (the run's own without workers)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if worker_id != "master" else base


@pytest.fixture(scope="session")
def cache_dir(shared_dir) -> Path:
    """One model cache for the run: the ONNX conversion runs once (it is written atomically,
    so two workers may race to write it)."""
    path = shared_dir / "cache"
    path.mkdir(exist_ok=True)
    return path


SHIPPED = {"default": [DEFAULT_COLLECTION], "hf": [HF_JSON], "both": [DEFAULT_COLLECTION, HF_JSON]}


@pytest.fixture(scope="session")
def prepared(shared_dir, cache_dir) -> Callable[[str, Path], Path]:
    """`prepared(name, target)` makes `target` a data directory holding the shipped
    collection(s) `name` of SHIPPED. Each is indexed once per run, whatever the number of
    workers, and copied: an ingest embeds for 15-25 s on 2 cores, a copy takes milliseconds.
    For the tests whose subject is not the ingest itself."""

    def prepare(name: str, target: Path) -> Path:
        source = shared_dir / "prepared" / name
        with FileLock(shared_dir / f"prepared-{name}.lock"):
            if not source.exists():
                building = source.with_name(f"{name}.building")
                shutil.rmtree(building, ignore_errors=True)
                settings = Settings(data_dir=building, cache_dir=cache_dir, _env_file=None)
                chat = PaperChat(settings)
                chat.ingest(SHIPPED[name])
                chat.close()
                building.rename(source)
        # Who held the store and who wrote last belong to the run that built it.
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("owner.json", "write.json"))
        return target

    return prepare


@pytest.fixture
def make_settings(tmp_path, cache_dir):
    def make(**overrides) -> Settings:
        overrides.setdefault("data_dir", tmp_path / "data")
        return Settings(cache_dir=cache_dir, _env_file=None, **overrides)

    return make


@pytest.fixture
def chat(make_settings) -> PaperChat:
    """An empty collection of its own for each test."""
    return PaperChat(make_settings())


@pytest.fixture(scope="session")
def default_chat(tmp_path_factory, cache_dir, prepared) -> PaperChat:
    """The default 59-paper collection, indexed once; tests must not change it."""
    data_dir = prepared("default", tmp_path_factory.mktemp("default") / "data")
    chat = PaperChat(Settings(data_dir=data_dir, cache_dir=cache_dir, _env_file=None))
    assert chat.stats()["papers"] == 59
    return chat


def cli_env(tmp_path: Path, cache_dir: Path) -> dict[str, str]:
    """The environment of a `paperchat` process on the data directory tmp_path/data."""
    return {
        **os.environ,
        "PAPERCHAT_DATA_DIR": str(tmp_path / "data"),
        "PAPERCHAT_CACHE_DIR": str(cache_dir),
        "COLUMNS": "200",
    }


@pytest.fixture
def run(tmp_path, cache_dir):
    """Run `paperchat` in a subprocess on a data directory of its own (tmp_path/data).

    `wrap` goes before the command (e.g. `unshare`); `limit` runs in the child first.
    """
    env = cli_env(tmp_path, cache_dir)

    def run(*args: str, stdin: str = "", wrap=(), limit=None, **extra_env: str):
        return subprocess.run(
            [*wrap, sys.executable, "-m", "rag", *args],
            env={**env, **extra_env},
            input=stdin,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=300,
            preexec_fn=limit,
        )

    return run


@pytest.fixture
def fake():
    """The OpenAI-compatible test server (tests/fake_openai.py), over real HTTP."""
    from fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        yield server


def default_abstracts() -> dict[str, list[str]]:
    """Each default-collection paper's abstract sentences, by paper id, from the file itself."""
    return {p.paper_id: split_sentences(p.abstract) for p in load_file(DEFAULT_COLLECTION).papers}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def start_chroma(path: Path, port: int) -> subprocess.Popen:
    """`chroma run` on loopback, returned once it accepts connections."""
    chroma = shutil.which("chroma", path=str(BIN)) or shutil.which("chroma")
    assert chroma, "the chroma CLI is not installed"
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    path.mkdir(parents=True, exist_ok=True)
    log = path / "server.log"
    process = subprocess.Popen(
        [chroma, "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        assert process.poll() is None, log.read_text()
        time.sleep(0.2)
    process.kill()
    pytest.fail("chroma run did not start within 30 s")


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real `chroma run` server on loopback, for server-mode tests."""
    port = free_port()
    process = start_chroma(tmp_path_factory.mktemp("chroma-server"), port)
    yield ChromaSettings(host="127.0.0.1", port=port)
    process.terminate()
    process.wait(timeout=10)
