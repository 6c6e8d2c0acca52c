"""Embedding throughput by batch size, with and without sorting texts by length.

    python bench/embed.py [--chunks 512]

Embeds the same chunks (of generated abstracts, bench/corpus.py) with each setting and
prints chunks/s. Prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import CACHE_DIR, scratch_chat  # noqa: E402
from bench.corpus import generated_papers  # noqa: E402
from rag.load import make_paper  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=512)
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    args = parser.parse_args()

    with scratch_chat(args.cache_dir) as chat:
        chunks: list[str] = []
        for record in generated_papers(0, args.chunks):
            chunks += [c.text for c in chat.chunker.split(make_paper(record))]
        chunks = chunks[: args.chunks]
        model = chat.embeddings
        model.embed(chunks[:16])  # build or load the ONNX session outside the timings
        print(f"{len(chunks)} chunks, {model.threads} onnxruntime threads")
        print(f"{'batch':>5} {'sorted':>8} {'unsorted':>9}   (chunks/s)")
        for batch_size in (4, 8, 16, 32, 64):
            model.batch_size = batch_size
            started = time.perf_counter()
            model.embed(chunks)  # sorts by length, then batches
            by_length = len(chunks) / (time.perf_counter() - started)
            started = time.perf_counter()
            for start in range(0, len(chunks), batch_size):
                model._embed_batch(chunks[start : start + batch_size])
            as_given = len(chunks) / (time.perf_counter() - started)
            print(f"{batch_size:>5} {by_length:>8.1f} {as_given:>9.1f}")


if __name__ == "__main__":
    main()
