"""A small OpenAI-compatible server for tests: real HTTP, streaming SSE, scripted failures.

It stands in for the paid remote API only. Each request takes the next scripted `Reply`
(or the default one) and is recorded, so tests can check what PaperChat sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    text: str = "The sources answer this [1]."
    status: int = 200
    delay: float = 0.0  # seconds before the response starts
    cut_after: int | None = None  # stream this many chunks, then drop the connection
    garbage: bool = False  # a 200 whose stream is not JSON
    chunk_delay: float = 0.0  # seconds between streamed chunks


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A client that hung up (timeouts in tests do) is expected, not an error."""


class FakeOpenAI:
    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.default = Reply()
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.models: list[dict] = [{"id": "fake-model", "object": "model"}]  # GET /models
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": server.models})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                reply = server.replies.popleft() if server.replies else server.default
                time.sleep(reply.delay)
                key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if not self.path.endswith(("/chat/completions", "/embeddings")):
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                elif reply.status != 200:
                    self._json(
                        reply.status,
                        {
                            "error": {  # like OpenAI, a refused key is echoed back
                                "message": f"Incorrect API key provided: {key}"
                                if reply.status == 401
                                else f"scripted failure {reply.status}",
                                "type": "rate_limit_error"
                                if reply.status == 429
                                else "server_error",
                                "code": None,
                            }
                        },
                        {"Retry-After": "0"},
                    )
                elif self.path.endswith("/embeddings"):
                    self._json(200, embeddings(body))
                elif body.get("stream"):
                    self._stream(body, reply)
                else:
                    self._json(200, completion(body, reply.text))

            def _json(self, status: int, data: dict, headers: dict | None = None) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def _chunk(self, data: str) -> None:
                raw = data.encode()
                self.wfile.write(f"{len(raw):X}\r\n".encode() + raw + b"\r\n")
                self.wfile.flush()

            def _stream(self, body: dict, reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if reply.garbage:
                    self._chunk("data: {this is not json\n\n")
                    self.wfile.write(b"0\r\n\r\n")
                    return
                pieces = [w + " " for w in reply.text.split(" ")]
                pieces[-1] = pieces[-1][:-1]
                for index, piece in enumerate(pieces):
                    if reply.cut_after is not None and index == reply.cut_after:
                        self.wfile.write(b'40\r\ndata: {"partial')  # a chunk cut short
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    self._chunk(f"data: {json.dumps(delta(body, piece))}\n\n")
                    time.sleep(reply.chunk_delay)
                self._chunk(f"data: {json.dumps(delta(body, '', finish='stop'))}\n\n")
                self._chunk("data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def delta(body: dict, text: str, finish: str | None = None) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "fake-model"),
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": text} if text else {},
                "finish_reason": finish,
            }
        ],
    }


def word_vector(text: str, size: int = 64) -> list[float]:
    """A deterministic bag-of-words vector: texts sharing words point the same way."""
    vector = [0.0] * size
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[zlib.crc32(word.encode()) % size] += 1.0
    return vector


def embeddings(body: dict) -> dict:
    texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": word_vector(t)}
            for i, t in enumerate(texts)
        ],
        "model": body["model"],
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }


def completion(body: dict, text: str) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake-model"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
