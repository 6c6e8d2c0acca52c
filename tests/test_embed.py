"""The ONNX all-MiniLM-L6-v2 against sentence-transformers' published numbers."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embed import DIMENSION, MiniLMEmbeddings


@pytest.fixture(scope="module")
def model(cache_dir) -> MiniLMEmbeddings:
    return MiniLMEmbeddings(cache_dir)


def test_reproduces_the_sentence_transformers_similarity_matrix(model):
    # From the sentence-transformers README for this exact model.
    vectors = model.embed(
        [
            "The weather is lovely today.",
            "It's so sunny outside!",
            "He drove to the stadium.",
        ]
    )
    expected = np.array([[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]])
    np.testing.assert_allclose(vectors @ vectors.T, expected, atol=6e-4)


def test_vectors_are_unit_length_and_independent_of_batching(model):
    texts = ["short", "a much longer sentence " * 20, "medium length text here", "x"]
    together = model.embed(texts)
    assert together.shape == (4, DIMENSION)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    one_by_one = np.stack([model.embed_one(t) for t in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


def test_onnx_file_is_built_once_into_the_cache(model, cache_dir):
    path = cache_dir / "models" / "all-MiniLM-L6-v2.onnx"
    model.embed(["warm up"])
    assert path.exists()
    built = path.stat().st_mtime_ns
    MiniLMEmbeddings(cache_dir).embed(["again"])
    assert path.stat().st_mtime_ns == built


def test_window_check(model):
    assert model.fits_window("word " * 200)
    assert not model.fits_window("word " * 300)
