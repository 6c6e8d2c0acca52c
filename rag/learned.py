"""The learned models, as the answer chain runs them: logistic regressions over named
features (and, for a question's text, TF-IDF word n-grams), fitted with scikit-learn by the
`eval/train_*.py` scripts and stored as small JSON files in `rag/models/`.

Running them needs numpy only, so answering never imports scikit-learn (about 2 s to load):
a model is its features' names, their standardization, and the coefficients.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

MODELS = Path(__file__).resolve().parent / "models"
WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
CONTRACTED = re.compile(r"\b(what|how|who|where|which|that|it|there)['\u2019]s\b")


def words(text: str) -> list[str]:
    """Lower-cased words, as the text models see them ("what's" as "what is")."""
    return WORD.findall(CONTRACTED.sub(r"\1 is", text.casefold()))


def ngrams(text: str, longest: int = 2) -> list[str]:
    """The text's words and word pairs, with "^" marking the start ("^ how", "how does")."""
    tokens = ["^", *words(text)]
    grams = tokens[1:]
    for n in range(2, longest + 1):
        grams += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return grams


@dataclass(frozen=True)
class LinearModel:
    """A logistic regression (binary: the chance of `classes[1]`; or multinomial over
    `classes`) over named features.

    `vocabulary` and `idf`, when given, turn a text into TF-IDF n-gram features (sublinear
    counts, L2-normalised) that precede the named ones.
    """

    name: str
    classes: tuple[str, ...]
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (1 or len(classes), n_features)
    intercept: np.ndarray
    vocabulary: Mapping[str, int]
    idf: np.ndarray
    info: Mapping[str, Any]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinearModel:
        return cls(
            name=data["name"],
            classes=tuple(data["classes"]),
            features=tuple(data["features"]),
            mean=np.asarray(data["mean"], float),
            scale=np.asarray(data["scale"], float),
            coef=np.atleast_2d(np.asarray(data["coef"], float)),
            intercept=np.atleast_1d(np.asarray(data["intercept"], float)),
            vocabulary={term: i for i, term in enumerate(data.get("vocabulary", []))},
            idf=np.asarray(data.get("idf", []), float),
            info=data.get("info", {}),
        )

    @classmethod
    def from_sklearn(
        cls,
        name: str,
        estimator: Any,
        features: Sequence[str],
        mean: np.ndarray,
        scale: np.ndarray,
        vectorizer: Any = None,
        info: Mapping[str, Any] | None = None,
    ) -> LinearModel:
        """A fitted scikit-learn LogisticRegression over TF-IDF columns (a fitted
        TfidfVectorizer with `analyzer=ngrams, sublinear_tf=True`), then the named features
        standardised by `mean` and `scale`."""
        return cls(
            name=name,
            classes=tuple(str(c) for c in estimator.classes_),
            features=tuple(features),
            mean=np.asarray(mean, float),
            scale=np.asarray(scale, float),
            coef=np.asarray(estimator.coef_, float),
            intercept=np.asarray(estimator.intercept_, float),
            vocabulary=dict(vectorizer.vocabulary_) if vectorizer is not None else {},
            idf=np.asarray(vectorizer.idf_ if vectorizer is not None else [], float),
            info=dict(info or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        def rounded(values: np.ndarray) -> list:
            return np.round(values, 4).tolist()

        return {
            "name": self.name,
            "classes": list(self.classes),
            "features": list(self.features),
            "mean": rounded(self.mean),
            "scale": rounded(self.scale),
            "coef": rounded(self.coef),
            "intercept": rounded(self.intercept),
            "vocabulary": sorted(self.vocabulary, key=self.vocabulary.__getitem__),
            "idf": rounded(self.idf),
            "info": dict(self.info),
        }

    def save(self, folder: Path) -> Path:
        path = folder / f"{self.name}.json"
        folder.mkdir(parents=True, exist_ok=True)
        data = self.to_dict()
        # One line per field: readable for the small models, compact for the text model's.
        lines = [
            f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in data.items()
        ]
        path.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
        return path

    def text_features(self, texts: Sequence[str]) -> np.ndarray:
        """TF-IDF of each text's known n-grams, one L2-normalised row per text."""
        rows = np.zeros((len(texts), len(self.vocabulary)))
        for row, text in zip(rows, texts, strict=True):
            for gram in ngrams(text):
                if (column := self.vocabulary.get(gram)) is not None:
                    row[column] += 1
            seen = row > 0
            row[seen] = (1 + np.log(row[seen])) * self.idf[seen]
            row /= np.linalg.norm(row) or 1.0
        return rows

    def matrix(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        """Named feature values in the model's order; a feature a row lacks is 0, and one the
        model was not trained with is an error (the code and the weights have drifted
        apart: retrain with eval/train_models.py)."""
        known = set(self.features)
        for row in rows:
            if unknown := set(row) - known:
                raise ValueError(f"model {self.name!r} has no feature(s) {sorted(unknown)}")
        return np.array([[float(row.get(f, 0.0)) for f in self.features] for row in rows])

    def probabilities(
        self, rows: Sequence[Mapping[str, float]], texts: Sequence[str] | None = None
    ) -> np.ndarray:
        """P(class) per row: (n,) for a binary model (the positive class), else (n, classes)."""
        x = (self.matrix(rows) - self.mean) / self.scale if self.features else np.zeros((0, 0))
        if self.vocabulary:
            words_ = self.text_features(texts or [""] * len(rows))
            x = np.hstack([words_, x]) if self.features else words_
        logits = x @ self.coef.T + self.intercept
        if len(self.classes) <= 2:
            return 1 / (1 + np.exp(-logits[:, 0]))
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def probability(self, row: Mapping[str, float], text: str | None = None) -> float:
        return float(self.probabilities([row], None if text is None else [text])[0])

    def predict(self, texts: Sequence[str], rows: Sequence[Mapping[str, float]] | None = None):
        """The most likely class of each text (multinomial models)."""
        chances = self.probabilities(rows or [{}] * len(texts), texts)
        if chances.ndim == 1:  # binary: the chance of the second class
            return [self.classes[int(p >= 0.5)] for p in chances]
        return [self.classes[i] for i in chances.argmax(axis=1)]


@cache
def model(name: str) -> LinearModel:
    """The model stored as rag/models/NAME.json (or in `MODELS` as set), read once."""
    return LinearModel.from_dict(json.loads((MODELS / f"{name}.json").read_text("utf-8")))


def best_cut(chances: Sequence[float], most: int, beta: float = 1.0) -> int:
    """How many of the likeliest items (`chances` best first, each the chance that it is
    one sought) to give, at least one and at most `most`: as many as maximise the expected
    F-beta against the items sought (F1 by default; `beta` > 1 weighs recall more), whose
    expected number is the chances' sum."""
    sought = sum(chances)
    best, count, held = 0.0, 1, 0.0
    for n, chance in enumerate(chances[:most], 1):
        held += chance
        if sought and (expected := (1 + beta**2) * held / (n + beta**2 * sought)) > best:
            best, count = expected, n
    return count
