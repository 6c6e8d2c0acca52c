"""The learned models: numpy runs them exactly as scikit-learn fitted them, the shipped
weights match the features the code computes, and retraining reproduces them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from rag import learned
from rag.intent import INTENTS
from rag.learned import MODELS, LinearModel, ngrams

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("intent", "followup", "fusion", "relevance", "sentences", "outcome", "stated")


def test_ngrams_mark_the_start_and_pair_the_words():
    assert ngrams("How does MEND work?") == [
        "how",
        "does",
        "mend",
        "work",
        "^ how",
        "how does",
        "does mend",
        "mend work",
    ]


def test_the_best_cut_maximises_the_expected_f1():
    assert learned.best_cut([0.9, 0.1, 0.05], 5) == 1  # one sure item
    assert learned.best_cut([0.8, 0.7, 0.6, 0.1], 5) == 3  # three likely ones
    assert learned.best_cut([0.3, 0.3, 0.3, 0.3], 2) == 2  # no more than asked
    assert learned.best_cut([0.0, 0.0], 3) == 1  # at least one


def test_a_recall_weighted_cut_takes_a_likely_second_item_the_f1_leaves_out():
    assert learned.best_cut([0.9, 0.3, 0.05], 5) == 1
    assert learned.best_cut([0.9, 0.3, 0.05], 5, beta=2) == 2
    assert learned.best_cut([0.9, 0.3, 0.05], 1, beta=2) == 1  # still no more than asked


def test_a_binary_model_gives_scikit_learns_probabilities(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)) * [1, 5, 0.1] + [0, 2, 1]
    y = (x[:, 0] + x[:, 1] / 5 - x[:, 2] + rng.normal(size=200) > 0.4).astype(int)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    fitted = LogisticRegression().fit((x - mean) / scale, y)
    model = LinearModel.from_sklearn("t", fitted, ["a", "b", "c"], mean, scale)
    rows = [dict(zip("abc", row, strict=True)) for row in x]
    expected = fitted.predict_proba((x - mean) / scale)[:, 1]
    assert np.allclose(model.probabilities(rows), expected)
    again = LinearModel.from_dict(json.loads(model.save(tmp_path).read_text()))  # as stored
    assert np.allclose(again.probabilities(rows), expected, atol=1e-3)


def test_a_text_model_gives_scikit_learns_classes_and_probabilities():
    texts = ["how does it work", "which papers study x", "how does y work", "which papers do z"]
    texts *= 5
    labels = ["mechanism", "list", "mechanism", "list"] * 5
    vectorizer = TfidfVectorizer(analyzer=ngrams, sublinear_tf=True).fit(texts)
    fitted = LogisticRegression().fit(vectorizer.transform(texts), labels)
    model = LinearModel.from_sklearn("t", fitted, [], np.zeros(0), np.zeros(0), vectorizer)
    asked = ["How does the method work?", "Which papers study robots?", "unseen words only"]
    assert model.predict(asked) == list(fitted.predict(vectorizer.transform(asked)))
    expected = fitted.predict_proba(vectorizer.transform(asked))[:, 1]  # of classes_[1]
    assert np.allclose(model.probabilities([{}] * 3, asked), expected)


def test_a_feature_the_model_was_not_trained_with_is_an_error():
    model = learned.model("fusion")
    with pytest.raises(ValueError, match="no feature"):
        model.probabilities([{"dense": 0.5, "a new signal": 1.0}])


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_model_loads_and_is_small(name):
    model = learned.model(name)
    assert model.coef.shape[1] == len(model.vocabulary) + len(model.features)
    assert (MODELS / f"{name}.json").stat().st_size < 200_000
    assert model.info["trained_on"].startswith("eval/bank/")


def test_the_intent_model_knows_every_intent():
    assert set(learned.model("intent").classes) == set(INTENTS)
    assert learned.model("outcome").classes == ("answered", "closest", "refused")


@pytest.mark.slow
def test_retraining_the_intent_model_reproduces_the_shipped_weights(tmp_path):
    shipped = json.loads((MODELS / "intent.json").read_text())
    result = subprocess.run(
        [sys.executable, "eval/train_models.py", "--only", "intent", "--models", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "intent: held-out accuracy" in result.stdout
    retrained = json.loads((tmp_path / "intent.json").read_text())
    assert retrained["vocabulary"] == shipped["vocabulary"]
    assert np.allclose(retrained["coef"], shipped["coef"], atol=1e-3)
