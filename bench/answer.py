"""Latency of `ask` on the default collection: per stage with the offline extractive
answerer, then through a GGUF model run by the embedded llama.cpp.

    python bench/answer.py [--rounds 5] [--gguf MODEL.gguf] [--llm-rounds 1] [--threads 2]

Asks a fixed list of questions (topic, fact, title, comparison, unanswerable) `--rounds` times
and prints p50/p95 per stage in milliseconds. With the model (default: the SmolLM2-135M that
`make setup` installs), it prints the time to the model's first token, to the first text
shown (held until a claim is supported) and to the whole answer, how many answers fell back
and the model's claims kept. Prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import CACHE_DIR, scratch_chat  # noqa: E402
from rag.api import PaperChat  # noqa: E402
from rag.local_llm import bundled_gguf  # noqa: E402
from rag.metrics import percentile  # noqa: E402

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


def llm_latency(chat: PaperChat, gguf: Path, rounds: int, threads: int) -> None:
    """Time to first text and to the whole answer through the embedded model (free-form
    lists, so that every question reaches it)."""
    settings = chat.settings.model_copy()
    settings.llm = settings.llm.model_copy(update={"gguf": gguf, "threads": threads})
    settings.llm = settings.llm.model_copy(update={"lists": "free"})
    llm_chat = PaperChat(settings)
    llm_chat.__dict__.update(store=chat.store, keyword=chat.keyword, embeddings=chat.embeddings)
    started = time.perf_counter()
    llm_chat.local_model.url  # noqa: B018
    print(f"\n{gguf.name} on {threads} threads: loaded in {time.perf_counter() - started:.1f} s")
    first, total, fell_back, kept, claims, token = [], [], 0, 0, 0, []
    model_stream = llm_chat.llm.stream

    def timed_stream(*args, **kwargs):
        """The model's stream, noting when its first token came (llama.cpp keeps prompts it
        has read, so a second request for the same question would not show it)."""
        for index, piece in enumerate(model_stream(*args, **kwargs)):
            if index == 0:
                token.append(time.perf_counter() - started)
            yield piece

    llm_chat.llm.stream = timed_stream
    for _ in range(rounds):
        for question in QUESTIONS:
            started = time.perf_counter()
            for part in llm_chat.stream(question, answerer="llm"):
                if isinstance(part, str) and part.strip() and len(first) < len(total) + 1:
                    first.append(time.perf_counter() - started)
            total.append(time.perf_counter() - started)
            fell_back += part.fell_back
            claims += len(part.claims)
            kept += sum(c.source is not None for c in part.claims)
    llm_chat.local_model.close()  # not llm_chat.close(): the store is chat's
    print(f"{len(total)} answers: {fell_back} fell back; {kept} of {claims} claims kept")
    print(f"{'':<16} {'p50 s':>8} {'p95 s':>8}")
    rows = (("first token", token), ("first text shown", first), ("whole answer", total))
    for name, values in rows:
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        print(f"{name:<16} {p50:8.2f} {p95:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument("--gguf", type=Path, default=bundled_gguf())
    parser.add_argument("--llm-rounds", type=int, default=1, help="0 skips the model")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    with scratch_chat(args.cache_dir) as chat:
        chat.ingest(ROOT / "data" / "daily_papers.txt")
        chat.ask(QUESTIONS[0], answerer="extractive")  # warm up the model and caches
        stages: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for question in QUESTIONS:
                answer = chat.ask(question, answerer="extractive")
                timings = {**answer.timings}
                after = ("decide", "generate", "verify")
                timings["after retrieval"] = sum(timings.get(stage, 0.0) for stage in after)
                timings["total"] = sum(answer.timings.values())
                for stage, seconds in timings.items():
                    stages.setdefault(stage, []).append(seconds * 1000)

        print(f"{len(QUESTIONS)} questions x {args.rounds} rounds, extractive answerer")
        print(f"{'stage':<16} {'p50 ms':>8} {'p95 ms':>8}")
        for stage, values in stages.items():
            p50, p95 = statistics.median(values), percentile(values, 0.95)
            print(f"{stage:<16} {p50:8.1f} {p95:8.1f}")
        if args.gguf and args.llm_rounds:
            llm_latency(chat, args.gguf, args.llm_rounds, args.threads)


if __name__ == "__main__":
    main()
