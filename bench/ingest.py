"""Ingest and search figures on this machine: throughput against the model's own, latency, RSS.

    python bench/ingest.py [--collection data/daily_papers.txt] [--queries 200]

Prints figures; it asserts nothing. Uses a fresh temporary data directory each run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import CACHE_DIR, peak_rss_mb, scratch_chat  # noqa: E402
from rag.load import load_file  # noqa: E402
from rag.metrics import percentile  # noqa: E402


def queries_from(papers, count: int) -> list[str]:
    """Title-like, phrase and keyword queries drawn from the collection itself."""
    pool = []
    for paper in papers:
        words = paper.abstract.split()
        pool += [paper.title, " ".join(words[10:18]), " ".join(paper.title.split()[:3])]
    return [pool[i % len(pool)] for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collection", type=Path, default=ROOT / "data" / "daily_papers.txt")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    args = parser.parse_args()

    with scratch_chat(args.cache_dir) as chat:
        papers = load_file(args.collection).papers
        chunks = [c.text for p in papers for c in chat.chunker.split(p)]
        chat.embeddings.embed(chunks[:8])  # build/load the ONNX session outside the timings

        # The model's own limit on exactly what ingest embeds: every chunk.
        started = time.perf_counter()
        chat.embeddings.embed(chunks)
        model_seconds = time.perf_counter() - started

        started = time.perf_counter()
        report = chat.ingest(args.collection)
        cold = time.perf_counter() - started

        started = time.perf_counter()
        again = chat.ingest(args.collection)
        reingest = time.perf_counter() - started
        assert again.chunks_written == 0

        latencies = []
        for query in queries_from(papers, args.queries):
            started = time.perf_counter()
            chat.search(query, k=5)
            latencies.append((time.perf_counter() - started) * 1000)

    rows = [
        ("machine", f"{os.cpu_count()} cores"),
        ("collection", f"{args.collection.name}: {len(papers)} papers"),
        ("chunks embedded", f"{len(chunks)}"),
        ("model alone", f"{model_seconds:.2f} s, {len(chunks) / model_seconds:.1f} chunks/s"),
        ("cold ingest", f"{cold:.2f} s"),
        ("ingest chunks/s", f"{report.chunks_written / cold:.1f} chunks/s"),
        ("pipeline / model", f"{model_seconds / cold:.2f}"),
        ("re-ingest (no changes)", f"{reingest * 1000:.0f} ms"),
        (f"search p50 ({args.queries} queries)", f"{statistics.median(latencies):.1f} ms"),
        (f"search p95 ({args.queries} queries)", f"{percentile(latencies, 0.95):.1f} ms"),
        ("peak RSS", f"{peak_rss_mb():.0f} MB"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
