"""Load on the web UI: N concurrent gradio_client sessions, each asking M questions.

    python bench/ui_load.py [--sessions 20] [--questions 5] [--url URL | --data-dir DIR]

Without --url it serves the UI on a free loopback port: over an existing index with
--data-dir (e.g. bench/.scale/10000 from bench/scale.py), else over the default collection
indexed in a temporary directory. Prints errors (target 0), time to first token and full-answer
latency p50/p95. Prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import CACHE_DIR  # noqa: E402
from bench.answer import QUESTIONS  # noqa: E402
from rag import PaperChat, Settings  # noqa: E402
from rag.metrics import percentile  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def session(url: str, questions: list[str], first: list, full: list, errors: list) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    for question in questions:
        started = time.perf_counter()
        try:
            job = client.submit(question, 6, "", "", "", "extractive", api_name="/ask_ui")
            seen_first = False
            for output in job:
                chat = output[0] if isinstance(output, list | tuple) else output
                if not seen_first and chat and chat[-1].get("content"):
                    first.append(time.perf_counter() - started)
                    seen_first = True
            job.result()
            full.append(time.perf_counter() - started)
        except Exception as exc:  # every failure is counted, not raised
            errors.append(f"{type(exc).__name__}: {exc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--url")
    parser.add_argument("--data-dir", type=Path, help="an index to serve, as it is")
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    args = parser.parse_args()

    app = None
    with tempfile.TemporaryDirectory() as data_dir:
        url = args.url
        if not url:
            from ui.app import serve

            chat = PaperChat(
                Settings(data_dir=args.data_dir or Path(data_dir), cache_dir=args.cache_dir)
            )
            if not args.data_dir:
                chat.ingest(ROOT / "data" / "daily_papers.txt")
            port = free_port()
            app = serve(chat, "127.0.0.1", port, None)
            url = f"http://127.0.0.1:{port}/"
        first: list[float] = []
        full: list[float] = []
        errors: list[str] = []
        threads = [
            threading.Thread(
                target=session,
                args=(
                    url,
                    [QUESTIONS[(s + i) % len(QUESTIONS)] for i in range(args.questions)],
                    first,
                    full,
                    errors,
                ),
            )
            for s in range(args.sessions)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        if app is not None:
            app.close()

    asked = args.sessions * args.questions
    print(
        f"{args.sessions} sessions x {args.questions} questions = {asked} answers in {wall:.1f} s"
    )
    print(f"errors                 {len(errors)}" + (f"  (first: {errors[0]})" if errors else ""))
    print(
        f"first token p50 / p95  {statistics.median(first or [0]):.2f} s / "
        f"{percentile(first, 0.95):.2f} s"
    )
    print(
        f"full answer p50 / p95  {statistics.median(full or [0]):.2f} s / "
        f"{percentile(full, 0.95):.2f} s"
    )


if __name__ == "__main__":
    main()
