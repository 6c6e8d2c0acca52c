"""The ONNX all-MiniLM-L6-v2 against sentence-transformers' published numbers."""

from __future__ import annotations

import numpy as np
import pytest
from fake_openai import Reply
from pydantic import SecretStr

from rag.embed import DIMENSION, MiniLMEmbeddings
from rag.load import Paper


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


def remote_chat(make_settings, fake, **embedding):
    from rag.api import PaperChat

    settings = make_settings()
    settings.embedding = settings.embedding.model_copy(
        update={"model": "word-vectors", "base_url": fake.url, **embedding}
    )
    return PaperChat(settings)


QUOKKAS = [
    Paper(title="Quokka census", abstract="We count quokkas on Rottnest Island by drone."),
    Paper(title="Graph partitioning", abstract="Spectral methods partition sparse graphs."),
]


def test_a_served_embedding_model_indexes_and_searches_over_http(make_settings, fake):
    chat = remote_chat(make_settings, fake, api_key=SecretStr("sk-embed"))
    chat.ingest(QUOKKAS)
    (hit,) = chat.search("quokkas counted by drone", k=1, mode="dense")
    assert hit.title == "Quokka census" and hit.score > 0.4
    answer = chat.ask("How do we count quokkas on Rottnest Island?")
    assert answer.citations and answer.citations[0].title == "Quokka census"
    assert {r["model"] for r in fake.requests} == {"word-vectors"}
    assert {h["authorization"] for h in fake.headers} == {"Bearer sk-embed"}
    assert any(isinstance(r["input"], list) and len(r["input"]) > 1 for r in fake.requests)


def test_vectors_of_two_models_never_mix(make_settings, fake):
    from rag.api import PaperChat
    from rag.store import StoreUnavailable

    remote_chat(make_settings, fake).ingest(QUOKKAS)
    with pytest.raises(StoreUnavailable, match="holds vectors of remote:word-vectors"):
        PaperChat(make_settings()).search("quokka")


def test_a_failing_embedding_server_is_a_clear_error(make_settings, fake):
    from rag.embed import EmbeddingError

    fake.script(*[Reply(status=500)] * 3)
    chat = remote_chat(make_settings, fake)
    with pytest.raises(EmbeddingError, match="failed with HTTP 500"):
        chat.ingest(QUOKKAS)
    assert chat.store.count() == 0
    chat.ingest(QUOKKAS)  # the server is back
    assert chat.store.count() == 2
