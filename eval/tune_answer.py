"""Choose the abstention threshold and the listing margin on the dev question set.

    python eval/tune_answer.py [--questions eval/dev.jsonl]

Retrieval runs once per question; then every (min_score, list_margin) pair on a grid is scored:
abstention accuracy on unanswerable questions, false abstentions on answerable ones, and the
F1 of the papers an answer would use against the gold papers. Prints the grid's best rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag import PaperChat, Settings  # noqa: E402
from rag.extractive import relevant_sources  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "dev.jsonl")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".paperchat" / "cache")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]

    with tempfile.TemporaryDirectory() as data_dir:
        chat = PaperChat(Settings(data_dir=Path(data_dir), cache_dir=args.cache_dir))
        chat.ingest(ROOT / "data" / "daily_papers.txt")
        cases = []
        for row in rows:
            state = chat.chain.validate(
                {
                    "question": row["question"],
                    "history": row.get("history"),
                    "answerer": "extractive",
                    "filters": None,
                }
            )
            state = chat.chain.decide(chat.chain.retrieve(chat.chain.condense(state)))
            cases.append((row, state, state["named"]))

    results = []
    for min_score in np.arange(0.30, 0.50, 0.005):
        for margin in np.arange(0.04, 0.30, 0.02):
            abstain_ok = false_abstain = answerable = unanswerable = 0
            f1s = []
            for row, state, named in cases:
                used = relevant_sources(state["query"], state["sources"], named, min_score, margin)
                gold = set(row["gold_titles"])
                if not gold:
                    unanswerable += 1
                    abstain_ok += not used
                    continue
                answerable += 1
                false_abstain += not used
                chosen = {s.hit.title for s in used}
                hits = len(chosen & gold)
                f1s.append(2 * hits / (len(chosen) + len(gold)) if chosen else 0.0)
            results.append(
                (
                    abstain_ok / unanswerable,
                    false_abstain / answerable,
                    float(np.mean(f1s)),
                    round(float(min_score), 3),
                    round(float(margin), 2),
                )
            )
    # Abstention first (accuracy minus false abstentions), then the F1 of the papers used.
    results.sort(key=lambda r: (-(r[0] - r[1]), -r[2], abs(r[3] - 0.4)))
    print(f"{len(cases)} questions: {sum(1 for c in cases if c[0]['gold_titles'])} answerable")
    print("abstain_acc  false_abstain  papers_f1  min_score  list_margin")
    best = results[0]
    good = [r[3] for r in results if r[:3] == best[:3] and r[4] == best[4]]
    middle = min((r[3] for r in results), key=lambda m: abs(m - (min(good) + max(good)) / 2))
    for row in results[:5] + sorted((r for r in results if r[3] == middle), key=lambda r: r[4]):
        print(f"{row[0]:11.3f}  {row[1]:13.3f}  {row[2]:9.3f}  {row[3]:9.3f}  {row[4]:11.2f}")
    print(f"min_score with the best abstention: {min(good):.3f}..{max(good):.3f}, middle {middle}")


if __name__ == "__main__":
    main()
