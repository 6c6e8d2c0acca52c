"""Server mode: the same ingest and search against a real `chroma run` server."""

from __future__ import annotations

import json

import pytest
from conftest import DEFAULT_COLLECTION, HF_JSON
from test_search import OVEROPTIMIZATION

from rag.api import PaperChat
from rag.config import ChromaSettings
from rag.search import Filters
from rag.store import StoreUnavailable

pytestmark = [pytest.mark.server, pytest.mark.slow]  # a real `chroma run` server


@pytest.fixture
def server_chat(make_settings, chroma_server, request):
    name = f"t-{request.node.name.replace('_', '-')[:50]}"
    chat = PaperChat(make_settings(chroma=chroma_server.model_copy(update={"collection": name})))
    yield chat
    chat.store.client.delete_collection(name)


def test_ingest_and_search_on_a_chroma_server(server_chat):
    report = server_chat.ingest(DEFAULT_COLLECTION)
    assert len(report.added) == 59
    assert not (server_chat.settings.data_dir / "chroma").exists()  # nothing embedded
    hits = server_chat.search("reward overoptimization", k=3)
    assert {h.title for h in hits} >= OVEROPTIMIZATION
    again = server_chat.ingest(DEFAULT_COLLECTION)
    assert len(again.unchanged) == 59 and again.chunks_written == 0
    assert server_chat.stats()["chroma"].startswith("http://127.0.0.1:")


def test_filters_on_a_chroma_server(server_chat):
    server_chat.ingest(HF_JSON)
    first = json.loads(HF_JSON.read_text())["papers"][0]
    author = first["authors"][0]
    hits = server_chat.search("edge service orchestration", k=5, filters=Filters(author=author))
    assert hits and all(author in h.authors for h in hits)
    dated = server_chat.search("language models", k=10, filters=Filters(date_from="2026-09-29"))
    assert dated and all(h.date >= "2026-09-29" for h in dated)


def test_second_machine_sees_the_first_ones_papers(server_chat, tmp_path_factory, cache_dir):
    """Two data directories (two machines) share one server; keyword search stays in step."""
    settings = server_chat.settings.model_copy(
        update={"data_dir": tmp_path_factory.mktemp("other-machine")}
    )
    other = PaperChat(settings)
    assert other.search("reward overoptimization", k=3) == []
    server_chat.ingest(DEFAULT_COLLECTION)
    hits = other.search("reward overoptimization", k=3, mode="keyword")
    assert {h.title for h in hits} >= OVEROPTIMIZATION


def test_unreachable_server_is_a_clear_error(make_settings):
    from conftest import free_port

    chat = PaperChat(make_settings(chroma=ChromaSettings(host="127.0.0.1", port=free_port())))
    with pytest.raises(StoreUnavailable, match=r"cannot reach the Chroma server at 127\.0\.0\.1"):
        chat.search("anything")


def test_server_that_stops_gives_a_clear_error_and_recovers(make_settings, tmp_path):
    from conftest import free_port, start_chroma

    from rag.load import Paper

    port = free_port()
    server = start_chroma(tmp_path / "server", port)
    chat = PaperChat(make_settings(chroma=ChromaSettings(host="127.0.0.1", port=port)))
    try:
        chat.ingest([Paper(title="Quokka census", abstract="We count quokkas on an island.")])
        server.terminate()
        server.wait(timeout=10)
        for call in (
            lambda: chat.search("quokka"),
            lambda: chat.ask("How are quokkas counted?"),
            chat.stats,
            lambda: chat.ingest([Paper(title="B", abstract="Bees.")]),
        ):
            with pytest.raises(
                StoreUnavailable, match=f"lost the Chroma server at http://127.0.0.1:{port}"
            ):
                call()
        server = start_chroma(tmp_path / "server", port)  # back, with the same data
        assert chat.search("quokka", k=1)[0].title == "Quokka census"
        assert chat.stats()["papers"] == 1
    finally:
        server.terminate()
        server.wait(timeout=10)
