"""PaperChat at N papers: ingest throughput, peak RSS, disk, search and answer latency, and
the cost of adding 100 papers to the built index.

    python bench/scale.py --papers 10000 [--queries 200] [--questions 30]

The collection is generated (bench/corpus.py) into bench/.scale/papers-N.jsonl and indexed
into bench/.scale/N/. A run that is stopped leaves a partial index, and the next run resumes
it: ingest skips what is stored. Figures print as they come and are kept in
bench/.scale/N/results.json. Prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import CACHE_DIR, peak_rss_mb  # noqa: E402
from bench.answer import QUESTIONS  # noqa: E402
from bench.corpus import generated_paper, generated_papers, write_collection  # noqa: E402
from rag import PaperChat, Settings  # noqa: E402
from rag.load import Paper, make_paper  # noqa: E402
from rag.metrics import percentile  # noqa: E402
from rag.search import Filters  # noqa: E402

MODEL_SAMPLE = 1024  # chunks the model embeds alone, to compare ingest with
DATE_FILTER = Filters(date_from="2024-01-01", date_to="2024-12-31")


def report(results: dict, path: Path, name: str, value) -> None:
    results[name] = value
    path.write_text(json.dumps(results, indent=1))
    print(f"{name:<34} {value}", flush=True)


def as_paper(record: dict) -> Paper:
    paper = make_paper(record)
    assert isinstance(paper, Paper), paper
    return paper


def timed_ms(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, required=True)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument(
        "--measure-only", action="store_true", help="measure the index as it stands, unfinished too"
    )
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    args = parser.parse_args()

    n = args.papers
    work = ROOT / "bench" / ".scale"
    data_dir = work / str(n)
    data_dir.mkdir(parents=True, exist_ok=True)
    results_path = data_dir / "results.json"
    # A later run over a built index keeps the ingest figures of the run that built it.
    results: dict = json.loads(results_path.read_text()) if results_path.exists() else {}
    results.update(papers=n, cores=os.cpu_count())
    collection = write_collection(work / f"papers-{n}.jsonl", 0, n)
    chat = PaperChat(Settings(data_dir=data_dir, cache_dir=args.cache_dir))

    # The model alone, on chunks of these papers, with the ingest's batch size.
    sample: list[str] = []
    for record in generated_papers(0, n):
        sample += [c.text for c in chat.chunker.split(as_paper(record))]
        if len(sample) >= MODEL_SAMPLE:
            break
    chat.embeddings.embed(sample[:16])  # build or load the ONNX session outside the timing
    started = time.perf_counter()
    chat.embeddings.embed(sample)
    model_rate = len(sample) / (time.perf_counter() - started)
    print(f"model alone: {model_rate:.1f} chunks/s", flush=True)

    started = time.perf_counter()
    if chat.sync_keyword_index():  # a stopped build leaves it behind Chroma
        report(
            results,
            results_path,
            "keyword index rebuilt from Chroma (s)",
            round(time.perf_counter() - started, 1),
        )
    before = chat.store.count()
    started, shown = time.perf_counter(), [0]

    def progress(done: int, total: int) -> None:
        if done - shown[0] >= 5000:
            shown[0] = done
            elapsed = time.perf_counter() - started
            print(
                f"  {done} chunks embedded in {elapsed:.0f} s, {peak_rss_mb():.0f} MB", flush=True
            )

    ingest = chat.ingest([] if args.measure_only else collection, progress)
    print(f"ingest wrote {ingest.chunks_written} chunks ({before} stored before)", flush=True)
    if ingest.chunks_written:
        rate = ingest.chunks_written / ingest.seconds
        report(results, results_path, "ingest (s)", round(ingest.seconds, 1))
        report(
            results, results_path, "chunks written / stored before", [ingest.chunks_written, before]
        )
        report(results, results_path, "model alone (chunks/s)", round(model_rate, 1))
        report(results, results_path, "ingest (chunks/s)", round(rate, 1))
        report(results, results_path, "ingest / model", round(rate / model_rate, 2))
        report(results, results_path, "peak RSS after ingest (MB)", round(peak_rss_mb()))
    stats = chat.stats()
    report(results, results_path, "papers indexed", stats["papers"])
    report(results, results_path, "chunks", stats["chunks"])
    report(results, results_path, "index on disk (MB)", round(stats["disk_bytes"] / 1e6, 1))

    # A fresh process's view: open the store and the keyword index, then search.
    del chat
    started = time.perf_counter()
    chat = PaperChat(Settings(data_dir=data_dir, cache_dir=args.cache_dir))
    chat.store.count()
    len(chat.keyword)
    report(results, results_path, "open index (s)", round(time.perf_counter() - started, 2))
    rng = random.Random(1)
    indexed = min(n, chat.stats()["papers"])  # papers go in file order: these are stored
    papers = [generated_paper(rng.randrange(indexed)) for _ in range(args.queries)]
    queries = []
    for i, record in enumerate(papers):
        words = record["abstract"].split()
        queries.append(
            [record["title"], " ".join(words[20:28]), QUESTIONS[i % len(QUESTIONS)]][i % 3]
        )
    chat.search(queries[0])  # load the ONNX session
    for label, filters in (("search", None), ("search, date filter", DATE_FILTER)):
        latencies = [
            timed_ms(lambda q=q, f=filters: chat.search(q, k=5, filters=f)) for q in queries
        ]
        report(
            results,
            results_path,
            f"{label} p50 / p95 (ms)",
            [round(statistics.median(latencies), 1), round(percentile(latencies, 0.95), 1)],
        )
    found = sum(chat.search(r["title"], k=1)[0].paper_id == r["id"] for r in papers[:50])
    report(results, results_path, "title search finds the paper", f"{found}/50")

    questions = [
        f"What is {papers[i]['title'].split(':')[0]}?" if i % 2 else QUESTIONS[i % len(QUESTIONS)]
        for i in range(args.questions)
    ]
    # Sentence vectors are embedded the first time a paper is quoted: drop those earlier runs
    # kept, then ask every question twice.
    chat.store.delete_sentences(chat.store.sentence_collection.get(include=[])["ids"])
    for sentences in ("new", "stored"):
        latencies = [timed_ms(lambda q=q: chat.ask(q, answerer="extractive")) for q in questions]
        report(
            results,
            results_path,
            f"answer p50 / p95, extractive, sentences {sentences} (ms)",
            [round(statistics.median(latencies), 1), round(percentile(latencies, 0.95), 1)],
        )

    # Adding 100 papers to the built index, then removing them again.
    extra = [as_paper(r) for r in generated_papers(n, n + 100, seed=1)]
    added = chat.ingest(extra)
    report(results, results_path, "add 100 papers (s)", round(added.seconds, 2))
    started = time.perf_counter()
    for paper in extra:
        chat.remove(paper.paper_id)
    report(results, results_path, "remove 100 papers (s)", round(time.perf_counter() - started, 2))
    report(results, results_path, "peak RSS, this run (MB)", round(peak_rss_mb()))


if __name__ == "__main__":
    main()
