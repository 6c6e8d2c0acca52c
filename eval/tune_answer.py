"""Fit the per-paper relevance model and choose its thresholds on the dev questions only.

    python eval/tune_answer.py            # both shipped collections' dev halves

Retrieval runs once per question. Every retrieved paper becomes one example: its signals
(rag/relevance.py) and whether it is a gold paper of the question. A logistic regression is
fitted on those examples; then abstention precision and recall, false abstentions and the F1
of the papers an answer would use are printed over a range of thresholds. The test halves are
never read here: they are for `make eval` to report on.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import astuple
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag import Settings  # noqa: E402
from rag.eval import load_questions, scratch_collection  # noqa: E402
from rag.extractive import COUNT_QUESTION, question_kind  # noqa: E402
from rag.relevance import WEIGHTS, statement_support  # noqa: E402

COLLECTIONS = {
    "default": ROOT / "data" / "daily_papers.txt",
    "hf": ROOT / "data" / "hf_daily_papers_2026-10-03.json",
}
NAMES = list(WEIGHTS)


def examples(cache_dir: Path, names: list[str]) -> list[dict]:
    """One row per dev question: its type, gold ids, and each candidate's signals."""
    rows = []
    for name in names:
        papers = COLLECTIONS[name]
        with scratch_collection(papers, Settings(cache_dir=cache_dir)) as chat:
            for question in load_questions(ROOT / "eval" / name / "dev.jsonl", chat):
                state = chat.chain.prepare(question.question, question.history, "extractive")
                frequency, papers = chat.keyword.paper_frequency, chat.keyword.paper_count
                rows.append(
                    {
                        "id": question.id,
                        "type": question.type,
                        "abstain": question.expects_abstention,
                        "gold": question.gold_ids,
                        "named": [s.hit.paper_id for s in state.named],
                        "domain": state.relevance[0].domain if state.relevance else 0.0,
                        "kind": question_kind(question.question),
                        "numeric": bool(COUNT_QUESTION.search(question.question)),
                        "stated": [
                            astuple(
                                statement_support(
                                    question.question,
                                    state.question_vector,
                                    s,
                                    frequency,
                                    papers,
                                )
                            )
                            for s in state.named
                        ],
                        "candidates": [
                            {"paper_id": r.source.hit.paper_id, **r.features}
                            for r in state.relevance
                        ],
                    }
                )
    return rows


def fit(x: np.ndarray, y: np.ndarray, l2: float = 0.01, steps: int = 20000) -> np.ndarray:
    """Logistic regression by gradient descent; the last weight is the bias."""
    x = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(x.shape[1])
    positive = y.mean()
    balance = np.where(y == 1, 0.5 / positive, 0.5 / (1 - positive))  # classes weigh alike
    for _ in range(steps):
        p = 1 / (1 + np.exp(-x @ w))
        gradient = x.T @ ((p - y) * balance) / len(y) + l2 * np.r_[w[:-1], 0]
        w -= 0.5 * gradient
    return w


def decisions(
    rows: list[dict], w: np.ndarray, threshold: float, min_domain: float
) -> dict[str, float]:
    """What answers would do at `threshold` and `min_domain`: abstention precision and
    recall, false abstentions, and the F1 of the papers used against the gold papers."""
    abstained_right = abstained = should = false_abstain = answerable = 0
    f1s = []
    for row in rows:
        used = set(row["named"])
        if row["domain"] >= min_domain or used:
            used |= {c["paper_id"] for c in row["candidates"] if chance(w, c) >= threshold}
        topic_abstain = row["abstain"] and row["type"] != "unstated"
        if topic_abstain:
            should += 1
            abstained_right += not used
        elif not row["abstain"]:
            answerable += 1
            false_abstain += not used
            gold = set(row["gold"])
            if used:
                precision = len(used & gold) / len(used)
                recall = len(used & gold) / len(gold)
                f1s.append(2 * precision * recall / (precision + recall or 1))
            else:
                f1s.append(0.0)
        abstained += not used and not (row["abstain"] and row["type"] == "unstated")
    return {
        "abstention_precision": abstained_right / abstained if abstained else 1.0,
        "abstention_recall": abstained_right / should if should else 1.0,
        "false_abstention": false_abstain / answerable if answerable else 0.0,
        "used_f1": float(np.mean(f1s)) if f1s else 0.0,
    }


def list_sweep(rows: list[dict], w: np.ndarray, threshold: float) -> None:
    """ "Which papers" questions: the F1 of the listed papers against the gold ones when the
    papers after the first (which needs `threshold`) must reach `threshold` and `list_ratio`
    times the first's probability."""
    listed = [r for r in rows if r["kind"] == "list" and not r["abstain"]]
    print(f"\nlists, over {len(listed)} answerable 'which papers' questions")
    print(f"{'list_ratio':>10} {'precision':>9} {'recall':>7} {'F1':>6}")
    for ratio in np.arange(0.0, 0.96, 0.1):
        scores = []
        for row in listed:
            chances = {c["paper_id"]: chance(w, c) for c in row["candidates"]}
            ranked = sorted(chances, key=lambda p: -chances[p])
            floor = max(threshold, chances[ranked[0]] * ratio)
            used = set(row["named"]) | {
                p for i, p in enumerate(ranked) if chances[p] >= (threshold if i == 0 else floor)
            }
            gold = set(row["gold"])
            precision = len(used & gold) / len(used) if used else 0.0
            scores.append((precision, len(used & gold) / len(gold)))
        p, r = np.mean(scores, axis=0)
        print(f"{ratio:10.2f} {p:9.3f} {r:7.3f} {2 * p * r / (p + r or 1):6.3f}")


def chance(w: np.ndarray, candidate: dict) -> float:
    logit = w[-1] + sum(w[i] * candidate[n] for i, n in enumerate(NAMES))
    return float(1 / (1 + np.exp(-logit)))


def not_stated_sweep(rows: list[dict]) -> None:
    """Questions that name one paper and ask one fact: how well the thresholds separate the
    facts its abstract does not state (type unstated) from those it does. A number question
    is decided by min_number_share, the others by (min_stated, min_stated_similarity); the
    pairs that say "not stated" wrongly at most once are printed."""
    asked = [r for r in rows if len(r["named"]) == 1 and r["kind"] == "fact"]
    should = sum(r["type"] == "unstated" for r in asked)
    print(f"\nnot stated, over {len(asked)} single-paper questions ({should} unstated)")
    print(f"{'number':>6} {'stated':>6} {'sim':>5} {'precision':>9} {'recall':>7} {'wrongly':>8}")
    for number in (0.05, 0.1, 0.2, 0.3):
        for share in np.arange(0.05, 0.5, 0.05):
            for similarity in np.arange(0.3, 0.7, 0.05):
                said = [
                    r
                    for r in asked
                    if (r["numeric"] and r["stated"][0][2] < number)
                    or (r["stated"][0][0] < share and r["stated"][0][1] < similarity)
                ]
                right = sum(r["type"] == "unstated" for r in said)
                if len(said) - right <= 1:
                    print(
                        f"{number:6.2f} {share:6.2f} {similarity:5.2f}"
                        f" {right / len(said) if said else 1:9.3f}"
                        f" {right / should if should else 1:7.3f} {len(said) - right:8d}"
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".paperchat" / "cache")
    parser.add_argument("--dump", type=Path, help="also write the examples here as JSON")
    parser.add_argument("--collections", nargs="+", choices=list(COLLECTIONS), default=COLLECTIONS)
    args = parser.parse_args()
    rows = examples(args.cache_dir, list(args.collections))
    if args.dump:
        args.dump.write_text(json.dumps(rows, indent=1))
    x, y = [], []
    for row in rows:
        for c in row["candidates"]:
            x.append([c[n] for n in NAMES])
            y.append(float(c["paper_id"] in row["gold"] and row["type"] != "unstated"))
    w = fit(np.array(x), np.array(y))
    print("WEIGHTS =", {n: round(float(v), 2) for n, v in zip(NAMES, w, strict=False)})
    print("BIAS =", round(float(w[-1]), 2))
    print(f"{'threshold':>9} {'domain':>6} {'abst.prec':>9} {'abst.rec':>9} {'false':>6} {'F1':>6}")
    for min_domain in (0.0, 0.2, 0.3, 0.4):
        for threshold in np.arange(0.30, 0.71, 0.05):
            d = decisions(rows, w, threshold, min_domain)
            print(
                f"{threshold:9.2f} {min_domain:6.2f} {d['abstention_precision']:9.3f}"
                f" {d['abstention_recall']:9.3f} {d['false_abstention']:6.3f} {d['used_f1']:6.3f}"
            )
    list_sweep(rows, w, 0.5)
    not_stated_sweep(rows)


if __name__ == "__main__":
    main()
