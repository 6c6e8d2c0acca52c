"""Per-stage latency of `ask` with the offline extractive answerer, on the default collection.

    python bench/answer.py [--rounds 5]

Asks a fixed list of questions (topic, fact, title, comparison, unanswerable) `--rounds` times
and prints p50/p95 per stage in milliseconds. Prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import CACHE_DIR, scratch_chat  # noqa: E402
from rag.eval import percentile  # noqa: E402

QUESTIONS = [
    "Which papers address reward overoptimization?",
    "Which papers use sharpness-aware minimization?",
    "Which papers study regret in multi-armed bandits?",
    "What accuracy does Lyra reach on miniF2F?",
    "How much computation does Adaptive Guidance save?",
    "What is MEND?",
    "Compare SequenceMatch and Transformer Copilot",
    "How can a language model learn from its own past mistakes during fine-tuning?",
    "Which papers use deep learning for protein structure prediction?",
    "What speech recognition models are evaluated on LibriSpeech?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    args = parser.parse_args()

    with scratch_chat(args.cache_dir) as chat:
        chat.ingest(ROOT / "data" / "daily_papers.txt")
        chat.ask(QUESTIONS[0], answerer="extractive")  # warm up the model and caches
        stages: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for question in QUESTIONS:
                answer = chat.ask(question, answerer="extractive")
                timings = {**answer.timings}
                timings["after retrieval"] = timings["generate"] + timings.get("verify", 0.0)
                timings["total"] = sum(answer.timings.values())
                for stage, seconds in timings.items():
                    stages.setdefault(stage, []).append(seconds * 1000)

    print(f"{len(QUESTIONS)} questions x {args.rounds} rounds, extractive answerer")
    print(f"{'stage':<16} {'p50 ms':>8} {'p95 ms':>8}")
    for stage, values in stages.items():
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        print(f"{stage:<16} {p50:8.1f} {p95:8.1f}")


if __name__ == "__main__":
    main()
