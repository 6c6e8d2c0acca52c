"""Train PaperChat's learned models from scratch on the labelled bank's train halves.

    python eval/train_models.py              # all seven, into rag/models/, with a report
    python eval/train_models.py --report-only  # the report, saving nothing
    python eval/train_models.py --only sentences stated --models /tmp/m  # some, elsewhere

The models, in the order they are trained (each later one reads the earlier ones' output):

- intent:    a question's words -> list, define, mechanism, result, quantity, detail, summary,
             compare (TF-IDF of word n-grams)
- followup:  whether a question asked after others leans on them (rag/condense.py)
- fusion:    each retrieved paper's chance of being a gold paper, from its dense, BM25 and
             best-sentence evidence; hybrid search ranks by it (rag/search.py)
- relevance: whether each candidate paper addresses the question (rag/relevance.py)
- sentences: whether each sentence of a paper answers the question (rag/extractive.py)
- outcome:   answered, closest or refused, for a question that names no paper (rag/decide.py)
- stated:    whether a named paper's abstract does not state what is asked (rag/decide.py)

Everything is fitted on `eval/bank/*/train.jsonl` only; `heldout.jsonl` (questions about a
fifth of the papers, never seen in training) is where the report's figures come from, with
an ablation of each model's feature groups. scikit-learn fits the logistic regressions (its
C chosen by 5-fold cross-validation over questions); PaperChat runs them with numpy alone
(rag/learned.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import sys
import time
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score  # noqa: E402
from sklearn.model_selection import GroupKFold  # noqa: E402

from rag import Settings, learned  # noqa: E402
from rag.condense import follow_up_features  # noqa: E402
from rag.decide import outcome_features, worth_most  # noqa: E402
from rag.eval import held_out, normalize, scratch_collection  # noqa: E402
from rag.extractive import search_query, sentence_features  # noqa: E402
from rag.intent import INTENTS, intent_of, intent_signals  # noqa: E402
from rag.learned import LinearModel, ngrams  # noqa: E402
from rag.relevance import relevance_features  # noqa: E402

COLLECTIONS = {
    "default": ROOT / "data" / "daily_papers.txt",
    "hf": ROOT / "data" / "hf_daily_papers_2026-10-03.json",
}
TRAINED_ON = "eval/bank/*/train.jsonl, and eval/*/dev.jsonl but for held-out papers"
ALONE = {  # the bank's follow-ups asked without their conversation, to train on
    "alone": True,
    "history": [],
    "gold_titles": [],
    "answer_sentences": {},
    "answer_keywords": [],
    "type": "unanswerable",
    "expected": "refuse",
}
STAGES = ("intent", "followup", "fusion", "relevance", "sentences", "outcome", "stated")
CS = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
OUTCOMES = {
    "answer": "answered",
    "not_stated": "answered",
    "closest": "closest",
    "refuse": "refused",
}
# Feature groups for the ablations: a name's prefix puts it in a group.
GROUPS = {
    "fusion": {
        "dense": ("dense", "dense_rank", "dense_behind"),
        "bm25": ("keyword", "keyword_rank", "keyword_strength", "keyword_strong"),
        "sentence": ("sentence", "sentence_rank", "sentence_behind"),
        "title": ("title",),
    },
    "relevance": {
        "fusion": ("fusion", "rank"),
        "cosines": ("chunk", "sentence", "behind"),
        "terms": ("coverage", "coverage_meant", "breadth", "terms"),
        "lacking (constraint)": ("lacking", "lacking_rarest", "near_miss", "unknown"),
        "named": ("named",),
        "domain": ("domain",),
    },
    "followup": {
        "refers back": ("refers_back",),
        "length": ("words", "terms"),
        "rare/unknown terms": ("rare", "unknown"),
        "said before": ("said",),
        "names a title": ("names",),
    },
    "outcome": {
        "chances": ("top", "second", "likely", "fusion_top"),
        "sentence": ("sentence", "sentence_gap", "chunk_gap"),
        "terms": ("coverage", "lacking_rarest", "near_miss", "unknown"),
        "domain": ("domain",),
        "intent": ("intent_",),
        "named": ("named",),
    },
    "stated": {
        "sentence model": ("best",),
        "similarity": ("similarity",),
        "asked terms": ("share", "number_share", "quantity_number_share", "abstract_share"),
        "missing term or name": ("missing_rarest", "names_missing"),
        "asked kind": ("head_missing",),
        "intent": ("intent_", "follow_up"),
    },
}
SENTENCE_GROUPS = {
    "cosine": ("cosine", "behind", "cosine_rank"),
    "cosine without the names": ("asked_cosine", "asked_behind"),
    "terms": ("overlap",),
    "place": ("position", "first", "last", "length"),
    "role": ("number", "measure", "proposal", "finding", "background", "defining"),
}


@dataclass
class Example:
    """One bank question as the pipeline saw it, with what each model is trained on."""

    collection: str
    half: str
    row: dict
    gold: set[str]
    intent: str = ""
    retrieved: object = None
    named: list = field(default_factory=list)
    fusion: dict = field(default_factory=dict)


def alone(example: Example) -> bool:
    return bool(example.row.get("alone"))


def words_of(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def answering(sentence: str, labelled: list[str]) -> bool:
    """Whether a stored sentence is one of the labelled answering sentences (split alike, or
    one inside the other)."""
    mine = words_of(sentence)
    return any(mine and (mine in words_of(x) or words_of(x) in mine) for x in labelled)


def expected_of(row: dict) -> str:
    """A question's expected outcome: its own, or, in the earlier sets, its type's."""
    if row.get("expected"):
        return row["expected"]
    if row.get("type") == "unstated":
        return "not_stated"
    return "refuse" if row.get("type") in ("near_miss", "unanswerable") else "answer"


def bank(name: str) -> list[tuple[str, dict]]:
    """The bank's questions as (half, row), and the dev half of the earlier sets (tuned on,
    by design) as training questions too, but for those about a held-out paper."""
    rows = []
    for half in ("train", "heldout"):
        for line in (ROOT / "eval" / "bank" / name / f"{half}.jsonl").read_text().splitlines():
            if line.strip():
                rows.append((half, json.loads(line)))
    for line in (ROOT / "eval" / name / "dev.jsonl").read_text().splitlines():
        row = json.loads(line)
        about = row.get("gold_titles") or []
        if not (any(map(held_out, about)) if about else held_out(row["question"])):
            rows.append(("train", row | {"expected": expected_of(row)}))
    # A follow-up asked without its conversation ("what data did they use?") has no answer
    # of its own: nothing in the collection is about it.
    rows += [
        (half, row | ALONE | {"id": f"{row['id']}-alone"})
        for half, row in rows
        if half == "train" and row.get("type") == "followup"
    ]
    return rows


def synthetic_negatives(rows: list[dict], count: int, seed: int) -> list[dict]:
    """Questions of their own asked after a conversation: each a bank question without
    history, given another question's conversation."""
    talks = [r["history"] for r in rows if r.get("history")]
    alone = [r for r in rows if not r.get("history")]
    chooser = random.Random(seed)
    return [
        {**r, "history": chooser.choice(talks), "type": "standalone"}
        for r in chooser.sample(alone, min(count, len(alone)))
    ]


def fit(
    name: str, rows: list[dict], y: list, groups: list, texts=None, vectorizer=None
) -> LinearModel:
    """A logistic regression on standardised named features (and TF-IDF text features), its
    C chosen by grouped cross-validation on log loss."""
    features = sorted({k for r in rows for k in r}) if rows and rows[0] else []
    x = np.array([[float(r.get(f, 0.0)) for f in features] for r in rows]) if features else None
    mean = x.mean(axis=0) if x is not None else np.zeros(0)
    scale = x.std(axis=0) if x is not None else np.zeros(0)
    scale[scale == 0] = 1.0
    parts = []
    if vectorizer is not None:
        parts.append(vectorizer.transform(texts).toarray())
    if x is not None:
        parts.append((x - mean) / scale)
    matrix = np.hstack(parts)
    y = np.asarray(y)
    best_c, best_loss = CS[0], float("inf")
    folds = GroupKFold(n_splits=5)
    for c in CS:
        losses = []
        for train, test in folds.split(matrix, y, groups):
            if len(set(y[train])) < len(set(y)):
                continue
            model = LogisticRegression(C=c, max_iter=5000).fit(matrix[train], y[train])
            losses.append(
                log_loss(y[test], model.predict_proba(matrix[test]), labels=model.classes_)
            )
        if losses and np.mean(losses) < best_loss:
            best_c, best_loss = c, float(np.mean(losses))
    model = LogisticRegression(C=best_c, max_iter=5000).fit(matrix, y)
    return LinearModel.from_sklearn(
        name,
        model,
        features,
        mean,
        scale,
        vectorizer,
        {
            "C": best_c,
            "examples": len(y),
            "trained_on": "eval/bank/*/train.jsonl, eval/*/dev.jsonl",
        },
    )


def without(rows: list[dict], prefixes: tuple[str, ...]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith(prefixes)} for r in rows]


def report_of(model: LinearModel, rows: list[dict], y: list) -> dict[str, float]:
    """Accuracy, Brier score, log loss and AUC (one class against the rest, averaged, for a
    multinomial model) of the model on `rows`."""
    p = model.probabilities(rows)
    if p.ndim == 1:
        truth = np.asarray(y, int)
        return {
            "brier": brier_score_loss(truth, p),
            "log_loss": log_loss(truth, p, labels=[0, 1]),
            "auc": roc_auc_score(truth, p) if len(set(y)) > 1 else float("nan"),
            "accuracy": float(np.mean((p >= 0.5) == truth.astype(bool))),
        }
    classes = list(model.classes)
    onehot = np.array([[c == label for c in classes] for label in y], float)
    return {
        "brier": float(np.mean(np.sum((onehot - p) ** 2, axis=1))),
        "log_loss": log_loss(y, p, labels=classes),
        "auc": roc_auc_score(y, p, multi_class="ovr", labels=classes),
        "accuracy": float(np.mean([classes[i] == t for i, t in zip(p.argmax(1), y, strict=True)])),
    }


def reliability(p: np.ndarray, y: list, bins: int = 5) -> list[tuple[str, int, float, float]]:
    """(bin, examples, mean predicted, share positive) per probability bin."""
    y = np.asarray(y, float)
    edges = np.linspace(0, 1, bins + 1)
    table = []
    for low, high in pairwise(edges):
        inside = (p >= low) & ((p < high) if high < 1 else (p <= high))
        if inside.any():
            table.append(
                (
                    f"{low:.1f}-{high:.1f}",
                    int(inside.sum()),
                    float(p[inside].mean()),
                    float(y[inside].mean()),
                )
            )
    return table


def ablation(name: str, train: tuple, test: tuple, groups_of: dict) -> None:
    """The held-out figures of the model without each feature group, beside the full one's."""
    rows, y, groups = train
    print(f"\n{name}: held-out figures without each feature group")
    print("| features | accuracy | Brier | log loss | AUC |\n| --- | --- | --- | --- | --- |")
    for group, prefixes in {"all": (), **groups_of}.items():
        model = fit(name, without(rows, prefixes) if prefixes else rows, y, groups)
        report = report_of(model, without(test[0], prefixes) if prefixes else test[0], test[1])
        label = group if group == "all" else f"without {group}"
        figures = " | ".join(f"{report[m]:.3f}" for m in ("accuracy", "brier", "log_loss", "auc"))
        print(f"| {label} | {figures} |")


class Trainer:
    def __init__(self, cache_dir: Path, stages: list[str], save: bool) -> None:
        self.cache_dir = cache_dir
        self.stages = stages
        self.save = save
        self.examples: list[Example] = []
        self.chats: dict = {}

    def store(self, model: LinearModel) -> None:
        """Save the model where the later stages (and PaperChat) read it."""
        if self.save:
            model.save(learned.MODELS)
            learned.model.cache_clear()
            intent_of.cache_clear()

    def train_intent(self) -> None:
        train = [
            e for e in self.examples if e.half == "train" and "intent" in e.row and not alone(e)
        ]
        test = [e for e in self.examples if e.half == "heldout"]
        vectorizer = TfidfVectorizer(analyzer=ngrams, min_df=3, sublinear_tf=True)
        vectorizer.fit([e.row["question"] for e in train])
        texts = [e.row["question"] for e in train]
        model = fit(
            "intent",
            [intent_signals(e.row["question"]) for e in train],
            [e.row["intent"] for e in train],
            [e.row["id"] for e in train],
            texts=texts,
            vectorizer=vectorizer,
        )
        self.store(model)
        questions = [e.row["question"] for e in test]
        predicted = model.predict(questions, [intent_signals(q) for q in questions])
        right = [p == e.row["intent"] for p, e in zip(predicted, test, strict=True)]
        print(f"\nintent: held-out accuracy {np.mean(right):.3f} over {len(test)} questions")
        by = defaultdict(list)
        for ok, e in zip(right, test, strict=True):
            by[e.row["intent"]].append(ok)
        print(" ".join(f"{k} {np.mean(v):.2f} ({len(v)})" for k, v in sorted(by.items())))

    def followup_rows(self, half: str) -> tuple[list[dict], list[int], list[str]]:
        rows, y, groups = [], [], []
        for name, chat in self.chats.items():
            titles = [p["title"] for p in chat.papers()]
            frequency = chat.keyword.paper_frequency
            mine = [
                e.row
                for e in self.examples
                if e.collection == name and e.half == half and not alone(e)
            ]
            talks = [r for r in mine if r.get("history")]
            seed = int(hashlib.md5(f"{name}{half}".encode()).hexdigest()[:6], 16)
            for row in talks + synthetic_negatives(mine, 3 * len(talks), seed):
                rows.append(follow_up_features(row["question"], row["history"], titles, frequency))
                y.append(int(row["type"] == "followup"))
                groups.append(row["id"])
        return rows, y, groups

    def train_followup(self) -> None:
        train, test = self.followup_rows("train"), self.followup_rows("heldout")
        model = fit("followup", *train)
        self.store(model)
        report = report_of(model, test[0], test[1])
        print(f"\nfollowup: held-out accuracy {report['accuracy']:.3f}, auc {report['auc']:.3f}")
        ablation("followup", train, test[:2], GROUPS["followup"])

    def pool_all(self) -> None:
        """Every question condensed as the chain does, and the fusion evidence of the papers
        hybrid search finds for it (before any fusion model ranks them)."""
        for e in self.examples:
            chat = self.chats[e.collection]
            chain = chat.chain
            asked = chain.validate(e.row["question"], e.row.get("history"), "extractive")
            condensed = chain.condense(asked)
            query = search_query(condensed.standalone)
            pool = chat.searcher.pool(query, chain.embed(query), 20, "hybrid", None)
            e.fusion = pool.features

    def retrieve_all(self) -> None:
        """Every question condensed and retrieved as the chain does, with the fusion model as
        it stands, and the papers it names."""
        for e in self.examples:
            chain = self.chats[e.collection].chain
            asked = chain.validate(e.row["question"], e.row.get("history"), "extractive")
            e.retrieved = chain.retrieve(chain.condense(asked))
            e.named = chain.decide.named(e.retrieved)
            e.intent = e.retrieved.intent

    def fusion_rows(self, half: str) -> tuple[list[dict], list[int], list[str]]:
        rows, y, groups = [], [], []
        for e in self.examples:
            if e.half == half and e.gold:
                for paper_id, features in e.fusion.items():
                    rows.append(features)
                    y.append(int(paper_id in e.gold))
                    groups.append(e.row["id"])
        return rows, y, groups

    def train_fusion(self) -> None:
        train, test = self.fusion_rows("train"), self.fusion_rows("heldout")
        model = fit("fusion", *train)
        self.store(model)
        ablation("fusion", train, test[:2], GROUPS["fusion"])

    def relevance_rows(self, half: str) -> tuple[list[dict], list[int], list[str]]:
        rows, y, groups = [], [], []
        for e in self.examples:
            if e.half != half:
                continue
            chat = self.chats[e.collection]
            r = e.retrieved
            features = relevance_features(
                r.query,
                r.vector,
                r.candidates,
                e.named,
                chat.keyword.paper_frequency,
                chat.keyword.paper_count,
                chat.chain.decide.centroid(),
            )
            for source, row in zip(r.candidates, features, strict=True):
                rows.append(row)
                y.append(int(source.hit.paper_id in e.gold and e.row["expected"] == "answer"))
                groups.append(e.row["id"])
        return rows, y, groups

    def train_relevance(self) -> None:
        train, test = self.relevance_rows("train"), self.relevance_rows("heldout")
        model = fit("relevance", *train)
        self.store(model)
        p = model.probabilities(test[0])
        print("\nrelevance: reliability on held-out papers")
        print("| chance | pairs | mean chance | share relevant |\n| --- | --- | --- | --- |")
        for line in reliability(p, test[1]):
            print(
                "|", " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in line), "|"
            )
        ablation("relevance", train, test[:2], GROUPS["relevance"])
        top = [i for i, row in enumerate(test[0]) if row["rank"] >= 0.2]  # the first five
        print("\n(the same on each question's first five candidates)")
        subset = ([test[0][i] for i in top], [test[1][i] for i in top])
        ablation("relevance", train, subset, GROUPS["relevance"])

    def sentence_rows(self, half: str) -> tuple[list[dict], list[int], list[str]]:
        rows, y, groups = [], [], []
        for e in self.examples:
            labelled = e.row.get("answer_sentences") or {}
            if e.half != half or not labelled:
                continue
            chain = self.chats[e.collection].chain
            r = e.retrieved
            scoring = chain.decide.scoring(r, e.named)
            for source in r.candidates:
                answers = labelled.get(source.hit.title)
                if not answers:
                    continue
                for sentence, row in zip(
                    source.sentences,
                    sentence_features(e.row["question"], e.intent, scoring, source),
                    strict=True,
                ):
                    rows.append(row)
                    y.append(int(answering(sentence.text, answers)))
                    groups.append(e.row["id"])
        return rows, y, groups

    def train_sentences(self) -> None:
        train, test = self.sentence_rows("train"), self.sentence_rows("heldout")
        model = fit("sentences", *train)
        self.store(model)
        groups = {
            g: tuple(p for p in prefixes) + tuple(f"{i}_{p}" for i in INTENTS for p in prefixes)
            for g, prefixes in SENTENCE_GROUPS.items()
        }
        groups["intent weighting"] = tuple(f"{i}_" for i in INTENTS)
        ablation("sentences", train, test[:2], groups)

    def outcome_rows(self, half: str) -> tuple[list[dict], list[str], list[str]]:
        rows, y, groups = [], [], []
        for e in self.examples:
            if e.half != half:
                continue
            relevance = self.chats[e.collection].chain.decide.relevance(e.retrieved, e.named)
            rows.append(outcome_features(relevance, e.named, e.intent))
            y.append(OUTCOMES[e.row["expected"]])
            groups.append(e.row["id"])
        return rows, y, groups

    def train_outcome(self) -> None:
        train, test = self.outcome_rows("train"), self.outcome_rows("heldout")
        model = fit("outcome", *train)
        self.store(model)
        predicted = [
            worth_most(
                dict(zip(model.classes, chances, strict=True)),
                bool(row["named"]),
                next(i for i in INTENTS if row[f"intent_{i}"]),
            )
            for row, chances in zip(test[0], model.probabilities(test[0]), strict=True)
        ]
        print("\noutcome: held-out (expected -> decided, as PaperChat decides)")
        table = defaultdict(lambda: defaultdict(int))
        for want, got in zip(test[1], predicted, strict=True):
            table[want][got] += 1
        for want in ("answered", "closest", "refused"):
            print(f"  {want:9s}", dict(table[want]))
        print(
            f"  accuracy {np.mean([a == b for a, b in zip(test[1], predicted, strict=True)]):.3f}"
        )
        ablation("outcome", train, test[:2], GROUPS["outcome"])

    def stated_rows(self, half: str) -> tuple[list[dict], list[int], list[str]]:
        rows, y, groups = [], [], []
        for e in self.examples:
            if e.half != half:
                continue
            decide = self.chats[e.collection].chain.decide
            scoring = decide.scoring(e.retrieved, e.named)
            relevance = decide.relevance(e.retrieved, e.named)
            likeliest = max(relevance, key=lambda r: r.probability).source
            papers = e.named or [likeliest]
            for source, features in decide.stated_evidence(e.retrieved, papers, scoring):
                if source.hit.paper_id in e.gold:
                    rows.append(features)
                    y.append(int(e.row["expected"] == "not_stated"))
                    groups.append(e.row["id"])
        return rows, y, groups

    def train_stated(self) -> None:
        train, test = self.stated_rows("train"), self.stated_rows("heldout")
        model = fit("stated", *train)
        self.store(model)
        report = report_of(model, *test[:2])
        said = model.probabilities(test[0]) >= 0.5
        truth = np.asarray(test[1], bool)
        print(
            f"\nstated: held-out accuracy {report['accuracy']:.3f} over {len(truth)} papers asked"
            f" about; 'not stated' said of {said[truth].mean():.2f} of the unstated facts and of"
            f" {said[~truth].mean():.2f} of the stated ones"
        )
        ablation("stated", train, test[:2], GROUPS["stated"])

    def run(self) -> None:
        with ExitStack() as stack:
            settings = Settings(cache_dir=self.cache_dir)
            text_only = set(self.stages) <= {"intent"}
            for name, papers in COLLECTIONS.items():
                rows = bank(name)
                if text_only:  # the intent model reads the questions alone
                    self.examples += [Example(name, half, row, set()) for half, row in rows]
                    continue
                chat = stack.enter_context(scratch_collection(papers, settings))
                self.chats[name] = chat
                by_title = {normalize(p["title"]): p["paper_id"] for p in chat.papers()}
                for half, row in rows:
                    gold = {by_title[normalize(t)] for t in row.get("gold_titles", [])}
                    self.examples.append(Example(name, half, row, gold))
            started = time.perf_counter()
            for stage in STAGES:
                if stage == "fusion" and stage in self.stages:
                    self.pool_all()
                if stage == "relevance" and not text_only:  # with the fusion model as trained
                    self.retrieve_all()
                if stage in self.stages:
                    getattr(self, f"train_{stage}")()
                    print(f"[{stage} done at {time.perf_counter() - started:.0f} s]", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".paperchat" / "cache")
    parser.add_argument("--only", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--report-only", action="store_true", help="fit and report, save nothing")
    parser.add_argument(
        "--models", type=Path, help="write the models here (a copy of rag/models/ first)"
    )
    args = parser.parse_args()
    if args.models:
        args.models.mkdir(parents=True, exist_ok=True)
        for path in learned.MODELS.glob("*.json"):
            shutil.copy(path, args.models / path.name)
        learned.MODELS = args.models
    Trainer(args.cache_dir, args.only, save=not args.report_only).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
