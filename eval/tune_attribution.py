"""Train the attribution model (rag/attribute.py) on labelled claims, and test it.

Each claim in eval/claims/*.jsonl is cited to one paper and is, or is not, supported by that
paper's abstract; some state a neighbouring paper's finding of the paper they cite (kind
"moved"). A claim is scored as `Attributor` scores it in an answer: against the sources a
model would read for the claim's question (or the paper's title), with the cited paper
among them. The model is fitted on the default collection's claims; the HF collection's are
the test, never used to fit or choose anything:

    python eval/tune_attribution.py            # fit, save rag/models/attribution.json, report
    python eval/tune_attribution.py --report-only
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import log_loss  # noqa: E402
from sklearn.model_selection import GroupKFold  # noqa: E402

from rag import learned  # noqa: E402
from rag.attribute import MIN_SUPPORT, Attributor, plain_claim, support_features  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.eval import scratch_collection  # noqa: E402
from rag.learned import LinearModel  # noqa: E402
from rag.relevance import key_terms  # noqa: E402

SETS = {
    "dev": (ROOT / "eval/claims/default.jsonl", ROOT / "data/daily_papers.txt"),
    "test": (ROOT / "eval/claims/hf.jsonl", ROOT / "data/hf_daily_papers_2026-10-03.json"),
}
CS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


def rows_of(claims_file: Path, papers: Path) -> list[dict]:
    """Per claim: its label, kind, cited title, whether its cited paper lacks a figure or a
    name it states, and the model's features."""
    rows = []
    with scratch_collection(papers, Settings()) as chat:
        chat.sync_keyword_index()
        chain = chat.chain
        sources_by_title = {}
        for line in claims_file.read_text().splitlines():
            record = json.loads(line)
            title = record["title"]
            if title not in sources_by_title:
                state = chain.prepare(title, None, "extractive")
                sources_by_title[title] = next(s for s in state.candidates if s.hit.title == title)
            cited = sources_by_title[title]
            state = chain.prepare(record.get("question") or title, None, "extractive")
            read = [s for s in state.shown if s.hit.paper_id != cited.hit.paper_id]
            # the cited paper, numbered apart from the sources the question finds
            number = max((s.number for s in read), default=0) + 1
            sources = [*read, type(cited)(number, cited.hit, cited.sentences)]
            attributor = Attributor(sources, chain.embed, chain.generate.rarity)
            text = plain_claim(record["claim"])
            evidence = attributor.evidence(text, key_terms(text))
            rows.append(
                {
                    "supported": bool(record["supported"]),
                    "kind": record["kind"],
                    "title": title,
                    "missing": evidence[number].missing,
                    "features": support_features(evidence, number),
                }
            )
    return rows


def fit(rows: list[dict]) -> LinearModel:
    """A logistic regression on the standardised features of the claims whose cited paper
    holds every figure and name they state (the others are refused by rule), its C chosen by
    5-fold cross-validation grouped by paper."""
    rows = [r for r in rows if not r["missing"]]
    features = sorted(rows[0]["features"])
    x = np.array([[r["features"][f] for f in features] for r in rows])
    y = np.array([int(r["supported"]) for r in rows])
    groups = [r["title"] for r in rows]
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    x = (x - mean) / scale
    best_c, best_loss = CS[0], float("inf")
    for c in CS:
        losses = []
        for train, test in GroupKFold(n_splits=5).split(x, y, groups):
            model = LogisticRegression(C=c, max_iter=5000).fit(x[train], y[train])
            losses.append(log_loss(y[test], model.predict_proba(x[test]), labels=[0, 1]))
        if np.mean(losses) < best_loss:
            best_c, best_loss = c, float(np.mean(losses))
    model = LogisticRegression(C=best_c, max_iter=5000).fit(x, y)
    info = {"C": best_c, "examples": len(y), "trained_on": "eval/claims/default.jsonl"}
    return LinearModel.from_sklearn("attribution", model, features, mean, scale, info=info)


def report(name: str, rows: list[dict], model: LinearModel) -> None:
    """The share of supported claims kept and of unsupported ones refused, by kind."""
    chances = model.probabilities([r["features"] for r in rows])
    kept = [
        (r, not r["missing"] and chance >= MIN_SUPPORT)
        for r, chance in zip(rows, chances, strict=True)
    ]
    by_kind = defaultdict(list)
    for row, keep in kept:
        by_kind[row["kind"]].append(keep == row["supported"])
    supported = [k for r, k in kept if r["supported"]]
    refused = [not k for r, k in kept if not r["supported"]]
    moved = [not k for r, k in kept if r["kind"] == "moved"]
    print(
        f"{name}: supported claims kept {np.mean(supported):.3f} of {len(supported)},"
        f" unsupported claims refused {np.mean(refused):.3f} of {len(refused)}"
        + (f", moved refused {np.mean(moved):.3f} of {len(moved)}" if moved else "")
    )
    for kind, right in sorted(by_kind.items()):
        print(f"  {kind}: {np.mean(right):.3f} of {len(right)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    rows = {name: rows_of(*files) for name, files in SETS.items()}
    if args.report_only:
        model = learned.model("attribution")
    else:
        model = fit(rows["dev"])
        print(f"saved {model.save(learned.MODELS)} (C={model.info['C']})")
        print(dict(zip(model.features, np.round(model.coef[0], 2), strict=True)))
    for name, found in rows.items():
        report(name, found, model)


if __name__ == "__main__":
    main()
