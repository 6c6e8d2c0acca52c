"""One data directory, many processes: one owner of the Chroma store, one writer at a time.

Chroma's embedded client is single-process: another process's writes leave its in-memory
HNSW segments stale, and a stale process that persists can overwrite newer data
(chroma-core/chroma issues 3769 and 3792). So exactly one process opens `DATA_DIR/chroma`,
the owner, which holds `DATA_DIR/owner.lock`:

- `paperchat serve` owns it for its whole run and shares it with every other process
  through `chroma run` on a loopback port, recorded in `DATA_DIR/owner.json`;
- any other process, when no server is recorded, opens it embedded and owns it while it is
  open; a second one waits for it, and says once whom it waits for.

Writes (ingest, fetch, remove, reset) also hold `DATA_DIR/write.lock` from start to end, so
the keyword index has one writer at a time across processes. Both are flock(2) locks: the
kernel drops them when their process dies, so a kill -9 never leaves one behind.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

Notify = Callable[[str], None]
POLL = 0.2  # seconds between tries of a held lock
SERVER_START = 30.0  # seconds `chroma run` may take to answer
PR_SET_PDEATHSIG = 1


def to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class StoreBusy(RuntimeError):
    """Another PaperChat server already serves this data directory."""


@dataclass
class Held:
    fd: int
    count: int


_held: dict[Path, Held] = {}  # flock'ed files of this process, by path: re-entrant here
_held_guard = threading.Lock()
_writers: dict[Path, ThreadWriter] = {}  # one writing thread per data directory
_servers: dict[Path, ChromaServer] = {}  # data directories this process serves


def try_lock(path: Path) -> bool:
    """Take the lock at `path` without waiting; False when another process holds it."""
    path = path.resolve()
    with _held_guard:
        if path in _held:
            _held[path].count += 1
            return True
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        _held[path] = Held(fd, 1)
        return True


def unlock(path: Path) -> None:
    path = path.resolve()
    with _held_guard:
        held = _held.get(path)
        if held is None:
            return
        held.count -= 1
        if held.count == 0:
            del _held[path]
            os.close(held.fd)  # closing the last descriptor drops the flock


def held_elsewhere(path: Path) -> bool:
    """Whether another process holds the lock at `path` (this one's own holds do not count)."""
    path = path.resolve()
    if path in _held or not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the lock just taken
    return False


def this_command() -> str:
    """How this process was started, as a person would type it: "paperchat ingest x.json"."""
    program = Path(sys.argv[0]).name if sys.argv else ""
    if program in ("__main__.py", "paperchat"):
        program = "paperchat"
    elif program in ("", "-c"):
        program = "python"
    command = " ".join([program, *sys.argv[1:]])
    return command if len(command) <= 80 else command[:79] + "…"


def write_record(path: Path, record: dict) -> None:
    partial = path.with_suffix(f".{os.getpid()}.part")
    partial.write_text(json.dumps(record))
    os.replace(partial, path)


def read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def holder(record: dict) -> str:
    """Who a record names: "pid 4242 (paperchat ingest data/x.json)"."""
    if not record.get("pid"):
        return "another PaperChat process"
    return f"pid {record['pid']} ({record.get('command') or 'PaperChat'})"


def waiting_for(lock: Path, record: Path, what: str, notify: Notify, ready=None) -> object:
    """Wait until the lock at `lock` is this process's, saying once whom it waits for; or
    until `ready()` returns something, which is then returned. Returns None once locked."""
    said = False
    while True:
        if ready is not None and (found := ready()) is not None:
            return found
        if try_lock(lock):
            return None
        if not said:
            notify(f"waiting for {holder(read_record(record))} to finish {what}")
            said = True
        time.sleep(POLL)


# The Chroma store's owner.


def owner_paths(data_dir: Path) -> tuple[Path, Path]:
    return data_dir / "owner.lock", data_dir / "owner.json"


def served_port(data_dir: Path) -> int | None:
    """The loopback port of the `chroma run` that serves `data_dir`, when one answers."""
    data_dir = data_dir.resolve()
    if data_dir in _servers:
        return _servers[data_dir].port
    lock, record_path = owner_paths(data_dir)
    record = read_record(record_path)
    port = record.get("chroma_port")
    if not port or not held_elsewhere(lock) or not answers(int(port), timeout=2.0):
        return None
    return int(port)


def answers(port: int, timeout: float) -> bool:
    """Whether a Chroma server on this loopback port answers its heartbeat."""
    try:
        httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=timeout).raise_for_status()
    except httpx.HTTPError:
        return False
    return True


def claim_store(data_dir: Path, notify: Notify) -> int | None:
    """The port of the server to use, or None once this process owns the store embedded
    (until `release_store`). Waits while another process has it open embedded."""
    data_dir = data_dir.resolve()
    lock, record = owner_paths(data_dir)
    port = waiting_for(
        lock,
        record,
        f"with {data_dir} (it has the Chroma store open; `paperchat serve` shares it)",
        notify,
        ready=lambda: served_port(data_dir),
    )
    if port is None and _held[lock.resolve()].count == 1:
        write_record(record, {"pid": os.getpid(), "command": this_command()})
    return port  # type: ignore[return-value]


def server(data_dir: Path) -> str:
    """The `paperchat serve` that shares `data_dir`: "pid 4242 (paperchat serve) at URL"."""
    record = read_record(owner_paths(data_dir.resolve())[1])
    return f"{holder(record)} at {record['ui_url']}" if record.get("ui_url") else holder(record)


def release_store(data_dir: Path) -> None:
    unlock(owner_paths(data_dir.resolve())[0])


def free_port() -> int:
    """A loopback port free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:
    """In the child: the kernel sends SIGTERM when the process that started it dies."""
    with suppress(OSError, AttributeError):  # not Linux: stopped by close() only
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class ChromaServer:
    """`chroma run` over `DATA_DIR/chroma` on a loopback port, started by the owner.

    The child inherits the owner lock and dies with its parent, so no process opens the
    store while it still runs, even after a kill -9 of the server."""

    def __init__(self, data_dir: Path, notify: Notify) -> None:
        self.data_dir = data_dir.resolve()
        self.lock, self.record = owner_paths(self.data_dir)
        lock = self.lock
        if self.data_dir in _servers or served_port(self.data_dir) is not None:
            raise StoreBusy(self.busy_message())
        if lock.resolve() in _held:
            raise StoreBusy(f"this process has {self.data_dir} open already; close it first")
        refusal = waiting_for(
            lock,
            self.record,
            f"with {self.data_dir} before serving it",
            notify,
            ready=lambda: served_port(self.data_dir),
        )
        if refusal is not None:  # a server started while this one waited
            raise StoreBusy(self.busy_message())
        self.port = free_port()
        path = self.data_dir / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / "chroma-server.log"
        chroma = Path(sys.executable).parent / "chroma"
        command = [str(chroma) if chroma.exists() else "chroma", "run", "--path", str(path)]
        try:
            self.process = subprocess.Popen(
                [*command, "--host", "127.0.0.1", "--port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=self.log_path.open("wb"),  # this run's; warnings only: it stays small
                stderr=subprocess.STDOUT,
                env={
                    "RUST_LOG": "warn",
                    **os.environ,
                    "ANONYMIZED_TELEMETRY": "False",
                    "NO_COLOR": "1",
                },
                pass_fds=(_held[lock.resolve()].fd,),
                preexec_fn=die_with_parent,
            )
        except OSError as exc:
            unlock(lock)
            raise StoreBusy(f"cannot start `chroma run` for {self.data_dir}: {exc}") from exc
        self._wait_until_up()
        self.ui_url = ""
        _servers[self.data_dir] = self
        self._write()

    def busy_message(self) -> str:
        return (
            f"another PaperChat server, {server(self.data_dir)}, already serves"
            f" {self.data_dir}; open that one, or stop it first"
        )

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + SERVER_START
        while time.monotonic() < deadline and self.process.poll() is None:
            if answers(self.port, timeout=1.0):
                return
            time.sleep(0.1)
        self.process.kill()
        unlock(self.lock)
        raise StoreBusy(
            f"`chroma run` did not start for {self.data_dir}; its log is {self.log_path}"
        )

    def _write(self) -> None:
        write_record(
            self.record,
            {
                "pid": os.getpid(),
                "command": this_command(),
                "chroma_port": self.port,
                "ui_url": self.ui_url,
            },
        )

    def announce(self, ui_url: str) -> None:
        """Record where the web UI runs, for a second `serve` to name."""
        self.ui_url = ui_url
        self._write()

    def close(self) -> None:
        if _servers.get(self.data_dir) is not self:
            return
        del _servers[self.data_dir]
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        unlock(self.lock)


# Writers.


@dataclass
class ThreadWriter:
    """This process's writer of one data directory: the thread writing, if any."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    thread: int | None = None
    depth: int = 0  # writing() entered again by the same thread


@contextmanager
def writing(data_dir: Path, notify: Notify) -> Iterator[None]:
    """Hold the data directory's write lock: one writer across threads and processes."""
    data_dir = data_dir.resolve()
    with _held_guard:
        here = _writers.setdefault(data_dir, ThreadWriter())
    if not here.lock.acquire(blocking=False):
        notify("waiting for another write in this process to finish")
        here.lock.acquire()
    here.thread, here.depth = threading.get_ident(), here.depth + 1
    lock, record = data_dir / "write.lock", data_dir / "write.json"
    try:
        waiting_for(lock, record, f"writing to {data_dir}", notify)
        try:
            if _held[lock.resolve()].count == 1:
                write_record(record, {"pid": os.getpid(), "command": this_command()})
            yield
        finally:
            unlock(lock)
    finally:
        here.depth -= 1
        if not here.depth:
            here.thread = None
        here.lock.release()


def writer(data_dir: Path) -> str:
    """Who writes to `data_dir` now, or wrote last: "pid 4242 (paperchat fetch ...)"."""
    return holder(read_record(data_dir.resolve() / "write.json"))


def writer_active(data_dir: Path) -> bool:
    """Whether a write is under way in another thread or process right now."""
    data_dir = data_dir.resolve()
    here = _writers.get(data_dir)
    if here is not None and here.thread not in (None, threading.get_ident()):
        return True
    return held_elsewhere(data_dir / "write.lock")
