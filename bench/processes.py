"""Many processes on one data directory: what sharing the store through `paperchat serve`
costs, and how soon the server sees another process's write.

    python bench/processes.py [--queries 200]

On a fresh data directory with both shipped collections: search latency with the store
opened embedded, then through the `chroma run` that `serve` starts; `paperchat ingest` of a
file (109 papers, renamed copies of both collections) alone and while the server answers a
question every 0.25 s (with those answers' latency and failures); how long after the ingest
exits the server cites a new paper. Prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import CACHE_DIR  # noqa: E402
from bench.ingest import queries_from  # noqa: E402
from rag import PaperChat, Settings  # noqa: E402
from rag.load import load_file  # noqa: E402
from rag.metrics import percentile  # noqa: E402
from rag.owner import free_port  # noqa: E402

FILES = [ROOT / "data" / "daily_papers.txt", ROOT / "data" / "hf_daily_papers_2026-10-03.json"]


def search_latencies(chat: PaperChat, queries: list[str]) -> list[float]:
    chat.warm_sentences()  # the model, the index and every sentence, as `serve` does first
    latencies = []
    for query in queries:
        started = time.perf_counter()
        chat.search(query, k=5)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def spread(latencies: list[float]) -> str:
    return f"{statistics.median(latencies):.1f} / {percentile(latencies, 0.95):.1f} ms"


def copies(path: Path) -> Path:
    papers = [p for f in FILES for p in load_file(f).papers]
    path.write_text(
        "".join(
            json.dumps({"id": f"copy-{n}", "title": f"Copy of {p.title}", "abstract": p.abstract})
            + "\n"
            for n, p in enumerate(papers)
        )
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    args = parser.parse_args()
    papers = [p for f in FILES for p in load_file(f).papers]
    queries = queries_from(papers, args.queries)
    rows: list[tuple[str, str]] = []

    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "data"
        env = {
            **os.environ,
            "PAPERCHAT_DATA_DIR": str(data_dir),
            "PAPERCHAT_CACHE_DIR": str(args.cache_dir),
        }
        settings = Settings(data_dir=data_dir, cache_dir=args.cache_dir, _env_file=None)
        chat = PaperChat(settings)
        chat.ingest(FILES)
        rows.append(("search p50 / p95, embedded", spread(search_latencies(chat, queries))))
        chat.close()

        def ingest(path: Path) -> float:
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "rag", "ingest", str(path)],
                env=env,
                check=True,
                capture_output=True,
            )
            return time.perf_counter() - started

        extra = copies(Path(scratch) / "copies.jsonl")
        rows.append(("`paperchat ingest` 109 papers, embedded", f"{ingest(extra):.1f} s"))
        subprocess.run(
            [sys.executable, "-m", "rag", "reset", "--yes"],
            env=env,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [sys.executable, "-m", "rag", "ingest", *map(str, FILES)],
            env=env,
            check=True,
            capture_output=True,
        )

        port = free_port()
        started = time.perf_counter()
        log = Path(scratch) / "serve.log"
        server = subprocess.Popen(
            [sys.executable, "-m", "rag", "serve", "--port", str(port)],
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        while "running at" not in log.read_text():
            time.sleep(0.05)
        rows.append(
            (
                "`paperchat serve` start, chroma run included",
                f"{time.perf_counter() - started:.1f} s",
            )
        )
        try:
            from gradio_client import Client

            served = PaperChat(settings)  # finds the server's store in owner.json
            rows.append(
                (
                    "search p50 / p95, through serve's chroma run",
                    spread(search_latencies(served, queries)),
                )
            )
            client = Client(f"http://127.0.0.1:{port}", verbose=False)
            question = "Which papers address reward overoptimization?"

            def ask() -> float:
                started = time.perf_counter()
                client.predict(question, [], None, api_name="/chat")
                return (time.perf_counter() - started) * 1000

            idle = [ask() for _ in range(20)]
            rows.append(("a question to the server, idle, p50 / p95", spread(idle)))

            busy: list[float] = []
            failures = 0
            writing = threading.Event()
            writing.set()

            def keep_asking() -> None:
                nonlocal failures
                while writing.is_set():
                    try:
                        busy.append(ask())
                    except Exception:
                        failures += 1
                    time.sleep(0.25)

            asker = threading.Thread(target=keep_asking)
            asker.start()
            seconds = ingest(extra)
            done = time.perf_counter()
            title = "Copy of " + papers[-1].title
            while True:
                answer = client.predict(title, [], None, api_name="/chat")
                if [c["title"] for c in answer["citations"]][:1] == [title]:
                    break
            seen = time.perf_counter() - done
            writing.clear()
            asker.join()
            rows.append(("`paperchat ingest` 109 papers, while serve answers", f"{seconds:.1f} s"))
            rows.append(
                (
                    "questions during that ingest, p50 / p95",
                    f"{spread(busy)} ({len(busy)} asked, {failures} failed)",
                )
            )
            rows.append(("the server cites a new paper, after the ingest exits", f"{seen:.2f} s"))
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()

    width = max(len(name) for name, _ in rows)
    print(f"{'machine':<{width}}  {os.cpu_count()} cores")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
