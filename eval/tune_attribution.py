"""Choose the attribution weights and threshold (rag/attribute.py) on labelled claims.

Each claim in eval/claims/*.jsonl is about one paper and is, or is not, supported by its
abstract. A claim's support is scored against that paper, as `Attributor` scores it against
the source it cites. Tune on the default collection's claims; the HF ones are the test:

    python eval/tune_attribution.py            # both, with the shipped settings
    python eval/tune_attribution.py --sweep    # the grid, on the dev claims only
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import rag  # noqa: F401  (telemetry off first)
from rag import attribute
from rag.attribute import Attributor, plain_claim, support
from rag.config import Settings
from rag.eval import scratch_collection
from rag.relevance import key_terms

ROOT = Path(__file__).resolve().parents[1]
SETS = {
    "dev": (ROOT / "eval/claims/default.jsonl", ROOT / "data/daily_papers.txt"),
    "test": (ROOT / "eval/claims/hf.jsonl", ROOT / "data/hf_daily_papers_2026-10-03.json"),
}


def features(claims_file: Path, papers: Path) -> list[tuple[bool, str, float, float, bool]]:
    """Per claim: label, kind, term coverage, best sentence cosine, figures missing."""
    rows = []
    with scratch_collection(papers, Settings()) as chat:
        chat.sync_keyword_index()
        chain = chat.chain
        for line in claims_file.read_text().splitlines():
            record = json.loads(line)
            state = chain.prepare(record["title"], None, "extractive")
            source = next(s for s in state.candidates if s.hit.title == record["title"])
            attributor = Attributor([source], chain.embed, chain.generate.rarity)
            text = plain_claim(record["claim"])
            parts = attributor.parts(text, key_terms(text))[source.number]
            rows.append((record["supported"], record["kind"], *parts))
    return rows


def score(rows, term_weight: float, threshold: float) -> dict[str, float | None]:
    """The share of supported claims kept and of unsupported claims refused."""
    kept, refused = [], []
    for label, _, coverage, meaning, missing in rows:
        value = support(coverage, meaning, missing, term_weight)
        (kept if label else refused).append(value >= threshold if label else value < threshold)
    return {
        "kept": sum(kept) / len(kept) if kept else None,
        "refused": sum(refused) / len(refused) if refused else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args()
    weight, threshold = attribute.TERM_WEIGHT, attribute.MIN_SUPPORT
    if args.sweep:
        rows = features(*SETS["dev"])
        print("term_weight threshold kept refused balanced")
        for w in (0.3, 0.4, 0.5, 0.6, 0.7):
            for t in (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7):
                s = score(rows, w, t)
                print(
                    f"{w:.1f} {t:.2f} {s['kept']:.3f} {s['refused']:.3f}"
                    f" {(s['kept'] + s['refused']) / 2:.3f}"
                )
        return
    for name, files in SETS.items():
        rows = features(*files)
        result = score(rows, weight, threshold)
        print(
            f"{name}: supported claims kept {result['kept']:.3f},"
            f" unsupported claims refused {result['refused']:.3f}"
        )
        for kind in sorted({r[1] for r in rows}):
            subset = [r for r in rows if r[1] == kind]
            shares = score(subset, weight, threshold)
            share = shares["kept"] if subset[0][0] else shares["refused"]
            print(f"  {kind}: {share:.3f} of {len(subset)}")


if __name__ == "__main__":
    main()
