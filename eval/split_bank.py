"""Split the labelled question bank by paper: `eval/bank/NAME/train.jsonl` and `heldout.jsonl`.

    python eval/split_bank.py      # after adding questions to any .jsonl under eval/bank/NAME/

A fifth of each collection's papers is held out, chosen by a hash of the title, so the split
never changes as questions are added. A question is held out when any paper it is about is
(its gold papers, the paper a near miss nearly matches, the papers its conversation names); a
question about no paper is held out by a hash of its text. The models are trained on
`train.jsonl` alone (`eval/train_models.py`); `heldout.jsonl` is only reported on, so its
figures are for papers the models never saw a question about.

Every .jsonl in the folder is read, so new files of questions are merged in (then removed);
lines are kept in id order, and an id seen twice keeps its last line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.eval import held_out  # noqa: E402
from rag.load import load_file  # noqa: E402

BANK = ROOT / "eval" / "bank"
COLLECTIONS = {
    "default": ROOT / "data" / "daily_papers.txt",
    "hf": ROOT / "data" / "hf_daily_papers_2026-10-03.json",
}


def papers_of(row: dict, titles: list[str]) -> list[str]:
    """The titles a question is about or leans on: its gold papers, a near miss's nearest
    paper, and the papers its conversation names."""
    about = [*row.get("gold_titles", []), *filter(None, [row.get("near_title")])]
    said = " ".join(turn.get("content", "") for turn in row.get("history", []))
    return about + [t for t in titles if t in said]


def main() -> int:
    for name, data in COLLECTIONS.items():
        folder = BANK / name
        titles = [paper.title for paper in load_file(data).papers]
        rows: dict[str, dict] = {}
        for path in sorted(folder.glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    rows[row["id"]] = row
        halves: dict[str, list[dict]] = {"train": [], "heldout": []}
        for row in sorted(rows.values(), key=lambda r: r["id"]):
            about = papers_of(row, titles)
            out = any(map(held_out, about)) if about else held_out(row["question"])
            halves["heldout" if out else "train"].append(row)
        for path in folder.glob("*.jsonl"):
            path.unlink()
        for half, lines in halves.items():
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines)
            (folder / f"{half}.jsonl").write_text(text, encoding="utf-8")
        print(
            f"{name}: {len(halves['train'])} questions to train on, {len(halves['heldout'])}"
            f" held out ({sum(map(held_out, titles))} of {len(titles)} papers)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
