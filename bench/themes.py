"""Themes: how close they come to a reader's grouping of each shipped collection (adjusted
Rand index against eval/themes/, written by a helper that never read the code), and how long
they take for N generated papers (bench/corpus.py), cold (the papers read from the store)
and warm.

    python bench/themes.py [--papers 1000]

The generated collection is indexed into bench/.scale/N/ as bench/scale.py does (a run of
either reuses it). Prints figures; it asserts nothing.
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

from bench import CACHE_DIR, peak_rss_mb  # noqa: E402
from bench.corpus import write_collection  # noqa: E402
from rag import PaperChat, Settings  # noqa: E402
from rag.eval import normalize, scratch_collection  # noqa: E402

SHIPPED = {
    "default": ROOT / "data/daily_papers.txt",
    "hf": ROOT / "data/hf_daily_papers_2026-10-03.json",
}


def agreement(name: str, path: Path) -> None:
    """The themes of a shipped collection against the labelling in eval/themes/NAME.json."""
    from sklearn.metrics import adjusted_rand_score

    labelled = json.loads((ROOT / "eval/themes" / f"{name}.json").read_text())
    gold = {normalize(t): i for i, theme in enumerate(labelled["themes"]) for t in theme["titles"]}
    with scratch_collection(path, Settings(cache_dir=CACHE_DIR)) as chat:
        started = time.perf_counter()
        themes = chat.themes()
        seconds = time.perf_counter() - started
    found = {normalize(p.title): i for i, theme in enumerate(themes) for p in theme.papers}
    titles = sorted(found)
    score = adjusted_rand_score([gold[t] for t in titles], [found[t] for t in titles])
    print(
        f"{name}: {len(titles)} papers, {len(themes)} themes found, {len(labelled['themes'])}"
        f" labelled; adjusted Rand index {score:.3f}; {seconds:.2f} s"
    )
    for theme in themes:
        print(f"    {len(theme.papers):3d}  {theme.name}")


def at_scale(papers: int, repeats: int) -> None:
    work = ROOT / "bench" / ".scale"
    collection = write_collection(work / f"papers-{papers}.jsonl", 0, papers)
    chat = PaperChat(Settings(data_dir=work / str(papers), cache_dir=CACHE_DIR))
    started = time.perf_counter()
    chat.ingest([collection])
    indexed = time.perf_counter() - started
    print(f"{papers} generated papers indexed (or found indexed) in {indexed:.0f} s")
    started = time.perf_counter()
    themes = chat.themes()
    cold = time.perf_counter() - started
    warm = []
    for _ in range(repeats):
        started = time.perf_counter()
        chat.themes()
        warm.append(time.perf_counter() - started)
    started = time.perf_counter()
    answer = chat.ask("what are the papers about?")
    asked = time.perf_counter() - started
    print(
        f"{papers} papers: {len(themes)} themes; cold {cold:.2f} s, warm median"
        f" {statistics.median(warm):.2f} s; the overview question {asked:.2f} s"
        f" ({len(answer.citations)} papers cited); peak RSS {peak_rss_mb():.0f} MB"
    )
    chat.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for name, path in SHIPPED.items():
        agreement(name, path)
    at_scale(args.papers, args.repeats)


if __name__ == "__main__":
    main()
