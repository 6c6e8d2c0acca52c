"""Latency of `ask`: per stage with the offline extractive answerer on the default
collection, then through a GGUF model run by the embedded llama.cpp on both collections.

    python bench/answer.py [--rounds 5] [--gguf MODEL.gguf] [--llm-questions 10]
                           [--threads 2] [--style auto|full|brief]

Asks a fixed list of questions (topic, fact, title, comparison, unanswerable) `--rounds` times
and prints p50/p95 per stage in milliseconds. With the model (default: the SmolLM2-135M that
`make setup` installs), it asks `--llm-questions` questions of each collection's eval test
half and prints the time to the model's first token, to the first text shown (held until a
claim is supported) and to the whole answer, the prompt's tokens, how many answers fell
back, the model's claims kept and how often a gold paper is cited. Prints figures; it
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import CACHE_DIR, scratch_chat  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.eval import normalize, scratch_collection  # noqa: E402
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


COLLECTIONS = {
    "default": (ROOT / "data" / "daily_papers.txt", ROOT / "eval" / "default" / "test.jsonl"),
    "hf": (ROOT / "data" / "hf_daily_papers_2026-10-03.json", ROOT / "eval" / "hf" / "test.jsonl"),
}


def test_questions(path: Path, count: int) -> list[dict]:
    """`count` questions of an eval test half spread over its types, in file order; follow-ups
    are left out (they lean on a conversation)."""
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    records = [r for r in records if r["type"] != "followup"]
    step = max(1, len(records) // count)
    return records[::step][:count]


def timed(model_stream, clock: dict, token: list, total: list):
    """The model's stream, noting when an answer's first token came (since
    `clock["started"]`; once an answer, as a brief answer asks once a paper)."""

    def stream(*args, **kwargs):
        for index, piece in enumerate(model_stream(*args, **kwargs)):
            if index == 0 and len(token) < len(total) + 1:
                token.append(time.perf_counter() - clock["started"])
            yield piece

    return stream


def llm_latency(cache_dir: Path, gguf: Path, count: int, threads: int, style: str) -> None:
    """Through the embedded model, on `count` questions of each collection's test half
    (free-form lists, so that every question may reach it): the time to the model's first
    token, to the first text shown and to the whole answer, the prompt's tokens, how many
    answers fell back, the model's claims kept, and how often a gold paper is cited."""
    first, total, token, prompt, reached = [], [], [], [], []
    fell_back = by_model = kept = claims = gold_cited = answerable = 0
    for name, (papers, questions) in COLLECTIONS.items():
        settings = Settings(cache_dir=cache_dir)
        update = {"gguf": gguf, "threads": threads, "lists": "free", "style": style}
        settings.llm = settings.llm.model_copy(update=update)
        with scratch_collection(papers, settings) as chat:
            started = time.perf_counter()
            chat.local_model.url  # noqa: B018
            loaded = time.perf_counter() - started
            brief = "brief" if chat.llm.brief else "full"
            print(f"\n{name}: {gguf.name} on {threads} threads, loaded in {loaded:.1f} s, {brief}")
            chat.ask("What is this collection about?", answerer="extractive")  # warm up
            clock = {}
            chat.llm._stream = timed(chat.llm._stream, clock, token, total)
            for record in test_questions(questions, count):
                started = clock["started"] = time.perf_counter()
                tokens_before = len(token)
                shown = None
                for part in chat.stream(record["question"], answerer="llm"):
                    if isinstance(part, str) and part.strip() and shown is None:
                        shown = time.perf_counter() - started
                total.append(time.perf_counter() - started)
                first.append(shown if shown is not None else total[-1])
                asked = len(token) > tokens_before
                if not asked:  # refused by the relevance model, or answered by code
                    token.append(float("nan"))
                wrote = part.prompt_tokens > 0
                reached.append(asked)
                by_model += asked and not part.fell_back
                fell_back += part.fell_back
                if wrote:
                    prompt.append(part.prompt_tokens)
                claims += len(part.claims)
                kept += sum(c.source is not None for c in part.claims)
                how = "fell back" if part.fell_back else "model" if asked else "code"
                print(
                    f"  {first[-1]:5.1f} s {total[-1]:5.1f} s {part.prompt_tokens:5d} tokens"
                    f" {how:<10} {part.outcome:<10} {record['question'][:60]}"
                )
                gold = {normalize(t) for t in record.get("gold_titles", [])}
                if gold:
                    answerable += 1
                    gold_cited += any(normalize(c.title) in gold for c in part.citations)
            chat.local_model.close()
    asked = [t for t in token if t == t]
    print(f"\n{len(total)} answers: {sum(reached)} asked of the model, {by_model} by it,", end=" ")
    print(f"{fell_back} fell back;")
    print(f"{kept} of {claims} model claims kept; a gold paper cited in", end=" ")
    print(f"{gold_cited} of {answerable}")
    print(f"{'':<24} {'p50':>8} {'p95':>8}")
    rows = (
        ("first token, s", asked),
        ("first text shown, s", first),
        ("whole answer, s", total),
        ("  the model asked: first", [t for t, r in zip(first, reached, strict=True) if r]),
        ("  the model asked: whole", [t for t, r in zip(total, reached, strict=True) if r]),
        ("prompt tokens", prompt),
    )
    for label, values in rows:
        if values:
            p50, p95 = statistics.median(values), percentile(values, 0.95)
            print(f"{label:<24} {p50:8.2f} {p95:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument("--gguf", type=Path, default=bundled_gguf())
    parser.add_argument(
        "--llm-questions", type=int, default=10, help="per collection; 0 skips the model"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--style", choices=["auto", "full", "brief"], default="auto")
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
    if args.gguf and args.llm_questions:
        llm_latency(args.cache_dir, args.gguf, args.llm_questions, args.threads, args.style)


if __name__ == "__main__":
    main()
