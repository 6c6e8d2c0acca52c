"""The web UI in a real browser (Debian's Chromium driven by Playwright) and through
gradio_client, against a real server on loopback."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from conftest import DEFAULT_COLLECTION, HF_JSON, ROOT, free_port, write_jsonl
from fake_openai import FakeOpenAI, Reply
from test_search import OVEROPTIMIZATION

from rag.api import PaperChat
from rag.config import Settings
from rag.load import Paper

pytestmark = pytest.mark.slow  # a real browser against real Gradio servers

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"  # screenshots of the answered page, kept after the run


def start(chat: PaperChat):
    from ui.app import serve

    port = free_port()
    app = serve(chat, "127.0.0.1", port, None)
    return app, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def server(tmp_path_factory, cache_dir, prepared):
    data_dir = prepared("default", tmp_path_factory.mktemp("ui") / "data")
    chat = PaperChat(Settings(data_dir=data_dir, cache_dir=cache_dir, _env_file=None))
    uploads = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp("gradio-uploads"))
    app, url = start(chat)
    yield url
    app.close()
    if uploads is None:
        os.environ.pop("GRADIO_TEMP_DIR")
    else:
        os.environ["GRADIO_TEMP_DIR"] = uploads


@pytest.fixture(scope="module")
def both(tmp_path_factory, cache_dir, prepared):
    """Both shipped collections in one, as `make run` indexes them, and a server on it."""
    data_dir = prepared("both", tmp_path_factory.mktemp("both") / "data")
    chat = PaperChat(Settings(data_dir=data_dir, cache_dir=cache_dir, _env_file=None))
    app, url = start(chat)
    yield chat, url
    app.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser):
    """Pages that fail the test if they fetch anything from beyond this machine."""
    contexts, outside = [], []

    def open_page(url: str, width: int = 1280, height: int = 900):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.on(
            "request",
            lambda r: (
                outside.append(r.url)
                if not r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
                else None
            ),
        )
        page.goto(url, wait_until="load")
        page.locator("#question textarea").wait_for()
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not outside, f"the page reached beyond this machine: {outside}"


def ask(page, question: str, turn: int) -> str:
    """Type a question, wait for its answer to be complete, return the chat's text."""
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()
    wait_for_turn(page, turn)
    return page.locator("#chat").inner_text()


def wait_for_turn(page, turn: int) -> None:
    page.locator("#sources details.turn").nth(turn).wait_for(state="attached", timeout=60_000)


def test_before_the_first_question_the_chat_says_what_is_loaded(server, open_page):
    page = open_page(server)
    welcome = page.locator("#chat")
    welcome.get_by_text(re.compile(r"^\d+ papers loaded$")).wait_for()
    assert "daily_papers.txt" in welcome.inner_text()
    assert "click an example" in welcome.inner_text()
    ask(page, "What is MEND?", 0)
    assert "papers loaded" not in page.locator("#chat").inner_text()


def test_a_citation_scrolls_its_card_into_view_and_marks_it(server, open_page):
    page = open_page(server)
    page.get_by_role("tab", name="Settings").click()
    papers = page.locator("#papers-k input[type=number]")
    papers.fill("12")
    papers.press("Enter")
    ask(page, "Which papers are about optimization?", 0)
    links = page.locator("#chat a.cite")
    numbers = sorted({int(t.strip("[]")) for t in links.all_inner_texts()})
    assert numbers[-1] >= 7, f"too few papers cited to test scrolling: {numbers}"
    far = numbers[-1]

    # [n] looks like a link: the accent colour, a pointer, underlined on hover.
    link = links.filter(has_text=f"[{far}]").first
    style = link.evaluate(
        "e => [getComputedStyle(e).color, getComputedStyle(e.parentElement).color,"
        " getComputedStyle(e).cursor]"
    )
    assert style[0] != style[1] and style[2] == "pointer"
    link.hover()
    assert "underline" in link.evaluate("e => getComputedStyle(e).textDecorationLine")

    page.get_by_role("tab", name="Collection").click()
    link.click()
    card = page.locator(f"#s0-{far}")
    page.wait_for_function(
        """id => { const r = document.getElementById(id).getBoundingClientRect();
                   return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight; }""",
        arg=f"s0-{far}",
        timeout=5_000,
    )
    assert "cited" in card.get_attribute("class")
    assert page.locator("#sources .source-card.cited").count() == 1
    page.locator("#chat a.cite", has_text="[1]").first.click()
    page.locator("#s0-1.cited").wait_for()
    assert "cited" not in card.get_attribute("class")  # one card marked at a time


def test_a_long_question_shows_what_was_used(server, open_page):
    page = open_page(server)
    question = "Which papers address reward overoptimization? " + "padding " * 2_500
    ask(page, question[:20_000], 0)
    asked = page.locator('#chat [data-testid="user"]').inner_text()
    assert 1_900 <= len(asked) <= 2_002, len(asked)
    assert "only the first 2,000 were used" in page.locator("#chat").inner_text()
    heading = page.locator("#sources .turn-title").inner_text()
    assert len(heading) <= 2_002
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 2_500, f"the page grew to {height}px"


def test_an_empty_question_changes_nothing_and_hints(server, open_page):
    page = open_page(server)
    ask(page, "What is MEND?", 0)
    before = (page.locator("#chat").inner_text(), page.locator("#answered-by").inner_text())
    page.locator("#question textarea").fill("   ")
    page.locator("#ask").click()
    hint = page.locator("#question-hint")
    hint.get_by_text("Type a question first").wait_for()
    assert page.locator('#chat [data-testid="user"]').count() == 1
    after = (page.locator("#chat").inner_text(), page.locator("#answered-by").inner_text())
    assert after == before and "offline extractive" in after[1]
    ask(page, "How long does it take to train?", 1)
    assert hint.inner_text().strip() == ""  # the hint goes with the next question


@pytest.mark.parametrize("width", [1280, 390])
def test_the_footer_has_no_stray_separator(server, open_page, width):
    page = open_page(server, width=width)
    assert "·" not in page.locator("footer").inner_text()


def test_collection_table_shows_every_column_in_a_readable_font(server, open_page):
    page = open_page(server)
    page.get_by_role("tab", name="Collection").click()
    table = page.locator("#titles")
    table.get_by_text("A Tutorial on Bayesian Optimization").wait_for()
    frame = table.bounding_box()
    for header in ("title", "paper id", "source"):
        box = table.locator("th", has_text=header).first.bounding_box()
        assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
    cell = table.get_by_text("A Tutorial on Bayesian Optimization")
    assert "mono" not in cell.evaluate("e => getComputedStyle(e).fontFamily")


def test_example_question_gets_cited_answer_with_source_cards(server, open_page):
    page = open_page(server)
    page.get_by_role("button", name="Which papers address reward overoptimization?").click()
    wait_for_turn(page, 0)
    chat = page.locator("#chat").inner_text()
    assert "2 papers in the collection address reward overoptimization" in chat
    cards = page.locator("#sources .source-card")
    assert cards.count() == 2
    card_text = cards.all_inner_texts()
    assert {t for t in OVEROPTIMIZATION if any(t in c for c in card_text)} == OVEROPTIMIZATION
    assert all(re.search(r"relevance [01]\.\d\d", c) for c in card_text)
    assert page.locator("#sources .source-card blockquote").count() == 2
    assert page.locator("#answered-by").inner_text() == "Answered by offline extractive"
    # The quote is highlighted inside the expandable abstract.
    page.locator("#sources .source-card details summary").first.click()
    mark = page.locator("#sources .source-card mark").first
    assert mark.is_visible() and "overoptimization" in mark.inner_text()

    # A citation reveals its card.
    page.get_by_role("tab", name="Collection").click()
    page.locator("#chat a.cite", has_text="[2]").first.click()
    card = page.locator("#s0-2")
    card.wait_for(state="visible")
    assert card.is_visible() and card.inner_text().startswith("[2] ")
    assert any(title in card.inner_text() for title in OVEROPTIMIZATION)

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-answer.png"), full_page=True)


def test_follow_up_and_abstention(server, open_page):
    page = open_page(server)
    ask(page, "What is MEND?", 0)
    chat = ask(page, "How long does it take to train?", 1)
    assert "less than a day" in chat.split("How long does it take to train?")[1]
    assert "Fast Model Editing at Scale" in page.locator("#sources details.turn").first.inner_text()
    chat = ask(page, "Which papers study self-driving car perception with lidar?", 2)
    assert "The collection has no paper on self-driving car perception with lidar" in chat
    assert "No paper in the collection was relevant" in page.locator("#sources").inner_text()
    # A fact the abstract does not state: said so, and the paper it looked in is shown.
    chat = ask(page, "Which GPU cluster was Lyra trained on?", 3)
    assert "does not state this" in chat.split("Which GPU cluster was Lyra trained on?")[1]
    latest = page.locator("#sources details.turn").first.inner_text()
    assert "Lyra: Orchestrating Dual Correction" in latest and "No paper" not in latest


def test_upload_then_ask_about_the_new_paper(server, open_page, tmp_path):
    path = write_jsonl(
        tmp_path / "quokka papers.jsonl",
        [
            {
                "id": "2501.00042",
                "title": "Counting Quokkas from Drone Images",
                "abstract": "We count quokkas in drone images of Rottnest Island with a small "
                "detector. It reaches 91% counting accuracy.",
                "authors": ["Q. Author"],
            },
            {"title": "Broken record without an abstract"},
        ],
    )
    page = open_page(server)
    page.get_by_role("tab", name="Collection").click()
    page.locator("#collection-counts").get_by_text("59 papers").wait_for()
    page.locator("#upload input[type=file]").set_input_files(str(path))
    remove = page.locator('#upload button[aria-label="Clear"]')
    remove.wait_for()
    label = page.locator('#upload label[data-testid="block-label"]').bounding_box()
    cross = remove.bounding_box()
    assert cross["x"] >= label["x"] + label["width"] or (
        cross["y"] >= label["y"] + label["height"]
    ), "the uploader's x overlaps its label"
    page.locator("#add").click()
    report = page.locator("#ingest-report")
    report.get_by_text("1 added").wait_for(timeout=60_000)
    assert "skipped quokka_papers.jsonl, line 2: missing abstract" in report.inner_text()
    assert "failed" not in (report.get_attribute("class") or "")
    page.locator("#upload .file-preview").wait_for(state="detached")  # ready for the next
    page.locator("#collection-counts").get_by_text("60 papers").wait_for()
    page.locator("#titles").get_by_text("Counting Quokkas from Drone Images").wait_for()
    page.get_by_label("Search titles and ids").fill("2501.00042")  # an id finds its paper
    page.locator("#collection-counts").get_by_text("Showing 1.").wait_for()
    page.get_by_label("Search titles and ids").fill("")

    chat = ask(page, "How accurate is quokka counting from drone images?", 0)
    assert "91% counting accuracy" in chat
    assert "Counting Quokkas" in page.locator("#sources").inner_text()
    # The upload and its working copy are gone once ingested.
    assert not list(Path(os.environ["GRADIO_TEMP_DIR"]).rglob("*.jsonl"))
    assert not list(Path(tempfile.gettempdir()).glob("paperchat-upload-*"))


COUNTS_ALONE = re.compile(r"^\s*\d+ papers, \d+ chunks, from \d+ file\(s\)\. Showing \d+\.\s*$")


def settled_counts(counts) -> str:
    """The Collection counts once no event that refreshes them is pending (a queue position
    or a progress timer, "0.2s", shows in their place meanwhile). The text is read once per
    try and returned as read: a refresh may start again between a wait and a second read."""
    deadline = time.monotonic() + 30
    while not COUNTS_ALONE.match(text := counts.inner_text()):
        assert time.monotonic() < deadline, f"the counts never settled: {text!r}"
        time.sleep(0.1)
    return text


def test_oversized_upload_is_refused(server, open_page, tmp_path):
    path = tmp_path / "huge.jsonl"
    record = json.dumps({"title": "Padding", "abstract": "x " * 500}) + "\n"
    path.write_text(record * (21 * 1024 * 1024 // len(record) + 1))
    page = open_page(server)
    page.get_by_role("tab", name="Collection").click()
    counts = page.locator("#collection-counts")
    counts.get_by_text(re.compile(r"\d+ papers")).wait_for()
    before = settled_counts(counts)
    page.locator("#upload input[type=file]").set_input_files(str(path))
    refusal = page.get_by_text(re.compile("exceed|too large|maximum", re.I)).first
    refusal.wait_for(timeout=30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-oversized-upload.png"))
    page.locator("#add").click()
    page.locator("#ingest-report").get_by_text("Choose a file first").wait_for()
    assert settled_counts(counts) == before
    assert not list(Path(os.environ["GRADIO_TEMP_DIR"]).rglob("huge*"))


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("../../etc/passwd.json", "passwd.json"),
        ("..\\..\\Windows\\papers.CSV", "papers.csv"),
        ("x/../../y.atom", "y.atom"),
        ("<img src=x onerror=alert(1)>.jsonl", "img_src_x_onerror_alert_1.jsonl"),
        ("..json", "upload.json"),
        ("a" * 300 + ".jsonl", "a" * 100 + ".jsonl"),
    ],
)
def test_upload_names_cannot_leave_the_upload_folder(name, stored):
    from ui.app import safe_upload_name

    assert safe_upload_name(name) == stored


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.json", b'{"papers": [', "invalid JSON"),
        ("binary.json", bytes(range(256)) * 8, "not valid UTF-8"),
    ],
)
def test_an_upload_with_nothing_usable_reads_as_a_failure(
    server, open_page, tmp_path, name, content, reason
):
    path = tmp_path / name
    path.write_bytes(content)
    page = open_page(server)
    page.get_by_role("tab", name="Collection").click()
    counts = page.locator("#collection-counts")
    counts.get_by_text(re.compile(r"\d+ papers")).wait_for()
    before = settled_counts(counts)
    page.locator("#upload input[type=file]").set_input_files(str(path))
    page.locator("#add").click()
    report = page.locator("#ingest-report")
    report.get_by_text(f"Nothing added from {name}").wait_for(timeout=30_000)
    assert reason in report.inner_text()
    assert "failed" in report.get_attribute("class")
    assert "added, 0 updated" not in report.inner_text()  # not worded as a success
    assert report.evaluate("e => getComputedStyle(e).borderLeftStyle") == "solid"
    assert settled_counts(counts) == before
    assert "Traceback" not in page.content()


def test_history_is_per_browser_session(server, open_page):
    first, second = open_page(server), open_page(server)
    ask(first, "What is MEND?", 0)
    assert "MEND" not in second.locator("#chat").inner_text()
    chat = ask(second, "How long does it take to train?", 0)
    assert "less than a day" not in chat  # the other session's subject does not leak in
    assert first.locator("#sources details.turn").count() == 1


def test_phone_width_layout(server, open_page):
    page = open_page(server, width=390, height=844)
    ask(page, "What accuracy does Lyra reach on miniF2F?", 0)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 392, f"the page scrolls sideways at phone width ({width}px)"
    assert page.locator("#ask").is_visible()
    page.screenshot(path=str(ARTIFACTS / "ui-phone.png"), full_page=True)


def test_gradio_client_calls_the_chat_endpoint(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    assert "/chat" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    result = client.predict(
        "Which papers address reward overoptimization?", [], 5, api_name="/chat"
    )
    answer = result if isinstance(result, dict) else json.loads(result)
    assert {c["title"] for c in answer["citations"]} == OVEROPTIMIZATION
    assert answer["answerer"] == "extractive" and not answer["abstained"]


def test_llm_answer_streams_into_the_page(tmp_path, cache_dir, open_page, server, prepared):
    with FakeOpenAI() as fake:
        fake.default = Reply(
            text="Reward model ensembles help mitigate overoptimization [1]. The SFT loss acts"
            " as an adversarial regularizer against overoptimization [2]. Both target reward"
            " overoptimization in RLHF [1][2].",
            chunk_delay=0.1,
        )
        settings = Settings(
            data_dir=prepared("default", tmp_path / "llm"),
            cache_dir=cache_dir,
            _env_file=None,
            openai_base_url=fake.url,
            openai_api_key="sk-ui-DO-NOT-LEAK-99",
        )
        settings.llm = settings.llm.model_copy(update={"model": "fake-model", "lists": "free"})
        chat = PaperChat(settings)
        app, url = start(chat)
        try:
            page = open_page(url)
            page.locator("#question textarea").fill("Which papers address reward overoptimization?")
            page.locator("#ask").click()
            lengths = set()
            for _ in range(200):
                text = page.locator("#chat").inner_text()
                if "ensembles" in text:
                    lengths.add(len(text))
                if "Both target" in text:
                    break
                page.wait_for_timeout(50)
            wait_for_turn(page, 0)
            assert len(lengths) >= 3, "the answer arrived in one piece, not streamed"
            assert page.locator("#answered-by").inner_text() == "Answered by fake-model"
            assert page.locator("#sources .source-card").count() == 2

            fake.script(Reply(status=401))  # the server echoes the key, as OpenAI does
            chat_text = ask(page, "What is MEND?", 1)
            assert "refused the API key" in chat_text
            assert "sk-ui-DO-NOT-LEAK-99" not in page.content()
        finally:
            app.close()


def test_paper_text_is_shown_escaped_never_run(server, open_page, tmp_path):
    path = write_jsonl(
        tmp_path / "hostile.jsonl",
        [
            {
                "title": 'Zebrafish <img src=x onerror="window.__pwned=1"> Tracking',
                "abstract": "We track zebrafish larvae in aquarium videos. "
                '<script>window.__pwned=2</script> <b onmouseover="window.__pwned=3">x</b> '
                "The tracker follows zebrafish larvae at 30 frames per second.",
            }
        ],
    )
    page = open_page(server)
    page.get_by_role("tab", name="Collection").click()
    page.locator("#upload input[type=file]").set_input_files(str(path))
    page.locator("#add").click()
    page.locator("#ingest-report").get_by_text("1 added").wait_for(timeout=60_000)
    ask(page, "How fast does the zebrafish larvae tracker run?", 0)
    page.get_by_role("tab", name="Sources").click()
    page.locator("#sources .source-card details summary").first.click()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#sources img, #sources script, #titles img").count() == 0
    assert "<img src=x" in page.locator("#sources").inner_text()  # shown as text


def test_settings_filters_and_title_search(server, open_page):
    page = open_page(server)
    page.get_by_role("tab", name="Collection").click()
    page.get_by_label("Search titles").fill("overoptimization")
    titles = page.locator("#titles")
    titles.get_by_text("Reward Model Ensembles Help Mitigate Overoptimization").wait_for()
    page.locator("#collection-counts").get_by_text("Showing 2.").wait_for()
    page.get_by_role("tab", name="Settings").click()
    page.get_by_label("Author name contains").fill("nobody in particular")
    chat = ask(page, "Which papers address reward overoptimization?", 0)
    assert "The collection has no paper on reward overoptimization" in chat
    assert "Only papers with an author matching 'nobody in particular' were searched" in chat


def test_a_bad_date_names_the_field_it_was_typed_in(server, open_page):
    page = open_page(server)
    page.get_by_role("tab", name="Settings").click()
    page.get_by_label("From date").fill("2026-13-45")
    page.locator("#question textarea").fill("What is MEND?")
    page.locator("#ask").click()
    page.locator("#chat").get_by_text("From date must be an ISO date").wait_for()
    assert "date_from" not in page.locator("#chat").inner_text()


@pytest.mark.server
def test_chroma_server_that_stops_is_one_line_in_the_chat_and_work_resumes(
    tmp_path, cache_dir, open_page
):
    from conftest import start_chroma

    from rag.config import ChromaSettings
    from rag.load import Paper

    port = free_port()
    chroma = start_chroma(tmp_path / "server", port)
    chat = PaperChat(
        Settings(
            data_dir=tmp_path / "client",
            cache_dir=cache_dir,
            _env_file=None,
            chroma=ChromaSettings(host="127.0.0.1", port=port),
        )
    )
    chat.ingest([Paper(title="Quokka census", abstract="We count quokkas on Rottnest Island.")])
    app, url = start(chat)
    try:
        page = open_page(url)
        assert "Quokka census" in ask(page, "How do we count quokkas on Rottnest Island?", 0)
        chroma.terminate()
        chroma.wait(timeout=10)
        page.locator("#question textarea").fill("Where are quokkas counted?")
        page.locator("#ask").click()
        page.locator("#chat").get_by_text(
            f"lost the Chroma server at http://127.0.0.1:{port}"
        ).wait_for()
        assert "Traceback" not in page.content()
        chroma = start_chroma(tmp_path / "server", port)  # back, with the same data
        assert "Rottnest" in ask(page, "How do we count quokkas on Rottnest Island?", 1)
    finally:
        app.close()
        chroma.terminate()
        chroma.wait(timeout=10)


def test_a_large_collection_lists_a_page_of_titles(server, open_page, monkeypatch):
    import ui.app

    monkeypatch.setattr(ui.app, "MAX_LISTED", 10)
    page = open_page(server)
    page.get_by_role("tab", name="Collection").click()
    counts = page.locator("#collection-counts")
    counts.get_by_text(re.compile(r"Showing 10 of \d+: search the titles to narrow")).wait_for()
    listed = page.locator("#titles")
    listed.get_by_text("A Deep Conjugate Direction Method").wait_for()  # first by title
    sources = re.findall(r"\.(?:txt|jsonl|json|csv|xml|atom)\b", listed.inner_text())
    assert len(sources) == 10  # one source column cell a row
    page.get_by_label("Search titles").fill("overoptimization")
    counts.get_by_text("Showing 2.").wait_for()


def test_fetch_days_then_ask_and_download_the_conversation_and_references(
    tmp_path, cache_dir, open_page, server
):
    from fake_hf import DAY1, DAY3, FakeHub

    with FakeHub(HF_JSON) as hub:
        settings = Settings(data_dir=tmp_path / "fetch", cache_dir=cache_dir, _env_file=None)
        settings.hf = settings.hf.model_copy(update={"endpoint": hub.url, "page_size": 8})
        chat = PaperChat(settings)
        app, url = start(chat)
        try:
            page = open_page(url)
            page.get_by_role("tab", name="Collection").click()
            page.locator("#fetch-from textarea").fill(DAY3)
            page.locator("#fetch-to textarea").fill(DAY1)
            page.locator("#fetch").click()
            report = page.locator("#fetch-report")
            report.get_by_text("is before From day").wait_for(timeout=30_000)
            page.locator("#fetch-from textarea").fill(DAY1)
            page.locator("#fetch-to textarea").fill(DAY3)
            page.locator("#fetch").click()
            report.get_by_text("50 added").wait_for(timeout=120_000)
            text = report.inner_text()
            assert "Daily Papers 2026-10-01 to 2026-10-03: 3 downloaded: 50 papers" in text
            assert "withdrawn from arXiv" in text
            page.locator("#collection-counts").get_by_text("50 papers").wait_for()

            # The days fetched hold the second shipped collection's papers: its examples show.
            from ui.app import examples_for

            shown = page.locator("#examples button")
            shown.first.wait_for()
            expected = examples_for([p["title"] for p in chat.papers()])
            assert shown.all_inner_texts() == expected and len(expected) == 4
            assert "How much does Jev reduce median decision latency?" in expected
            jev = hub.days[DAY1][0]["paper"]
            chat_text = ask(page, "How much does Jev reduce median decision latency?", 0)
            assert "22.7-64.5%" in chat_text
            page.get_by_role("tab", name="Sources").click()
            card = page.locator("#sources .source-card").first
            facts = card.locator(".card-meta").inner_text()
            assert f"arXiv:{jev['id']}" in facts and "Daily Papers 2026-10-01" in facts
            assert re.search(r"▲ \d+ upvotes?", facts)
            assert (
                card.get_by_role("link", name="GitHub").get_attribute("href") == jev["githubRepo"]
            )
            assert card.locator(".keyword").all_inner_texts() == jev["ai_keywords"]
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "ui-fetched-answer.png"), full_page=True)

            with page.expect_download() as download:
                page.locator("#download-chat").click()
            conversation = Path(download.value.path()).read_text()
            assert "How much does Jev reduce median decision latency?" in conversation
            assert f"arXiv:{jev['id']}" in conversation
            with page.expect_download() as download:
                page.locator("#download-bibtex").click()
            references = Path(download.value.path()).read_text()
            assert f"eprint = {{{jev['id']}}}" in references
        finally:
            app.close()


def test_downloads_are_removed_after_ten_minutes_by_folder(tmp_path):
    """A server up for days keeps making downloads: old folders go, with all their files,
    and a folder another session removed first is no error (it was, after 10 minutes)."""
    from ui.app import EXPORT_MAX_AGE, remove_old_exports

    folders = []
    for n in range(3):
        folder = tmp_path / f"answer{n}"
        folder.mkdir()
        for name in ("paperchat-conversation.md", "paperchat-references.bib"):
            (folder / name).write_text("x")
        folders.append(folder)
    now = folders[0].stat().st_mtime
    os.utime(folders[0], (now - EXPORT_MAX_AGE - 1, now - EXPORT_MAX_AGE - 1))
    os.utime(folders[1], (now - EXPORT_MAX_AGE - 5, now - EXPORT_MAX_AGE - 5))
    remove_old_exports(tmp_path, now)
    assert [f.exists() for f in folders] == [False, False, True]
    remove_old_exports(tmp_path, now + EXPORT_MAX_AGE + 1)
    assert not any(tmp_path.iterdir())
    tmp_path.rmdir()  # a cleaner of /tmp took the root itself
    remove_old_exports(tmp_path, now)
    assert tmp_path.is_dir()


def test_the_collection_tab_counts_papers_another_process_added(
    open_page, tmp_path, cache_dir, prepared
):
    data_dir = prepared("default", tmp_path / "data")
    settings = Settings(data_dir=data_dir, cache_dir=cache_dir, _env_file=None)
    chat = PaperChat(settings)
    app, url = start(chat)
    try:
        page = open_page(url)
        page.get_by_role("tab", name="Collection").click()
        page.locator("#collection-counts").get_by_text("59 papers").wait_for()
        page.get_by_role("tab", name="Sources").click()
        cron = PaperChat(settings)  # a writer of its own, as `paperchat fetch` from cron is
        cron.ingest([Paper(title="Quokka census", abstract="We count quokkas on an island.")])
        page.get_by_role("tab", name="Collection").click()
        page.locator("#collection-counts").get_by_text("60 papers").wait_for()
    finally:
        app.close()


def test_the_examples_fit_the_collection_and_each_is_answered(both):
    """With both shipped collections loaded (`make run`), the examples ask about both, and
    each, asked, is answered from the papers it names, not refused."""
    from ui.app import EXAMPLES, examples_for

    chat, _ = both
    papers = chat.papers()
    examples = examples_for([p["title"] for p in papers])
    assert len(examples) == 4
    sources: set[str] = set()
    for question in examples:
        answer = chat.ask(question)
        assert not answer.abstained and answer.citations, (question, answer.text)
        assert answer.answerer == "extractive"
        about = next(starts for text, starts in EXAMPLES if text == question)
        cited = [c.title for c in answer.citations]
        assert all(any(t.startswith(start) for t in cited) for start in about), (question, cited)
        sources |= {p["source"] for p in papers if p["title"] in cited}
    assert sources == {DEFAULT_COLLECTION.name, HF_JSON.name}  # both collections asked about

    by_source = {
        name: [p["title"] for p in papers if p["source"] == name]
        for name in (DEFAULT_COLLECTION.name, HF_JSON.name)
    }
    default_only = examples_for(by_source[DEFAULT_COLLECTION.name])
    hf_only = examples_for(by_source[HF_JSON.name])
    assert "Which papers address reward overoptimization?" in default_only
    assert "How much does Jev reduce median decision latency?" in hf_only
    assert len(default_only) == len(hf_only) == 4 and not set(default_only) & set(hf_only)
    assert examples_for(["Counting Quokkas from Drone Images"]) == []


def test_the_page_shows_the_examples_of_the_collection_and_asks_them(both, open_page):
    from ui.app import examples_for

    chat, url = both
    page = open_page(url)
    buttons = page.locator("#examples button")
    buttons.first.wait_for()
    texts = buttons.all_inner_texts()
    assert texts == examples_for([p["title"] for p in chat.papers()])
    assert "click an example" in page.locator("#chat").inner_text()
    page.get_by_role("button", name="How much does Jev reduce median decision latency?").click()
    wait_for_turn(page, 0)
    assert "22.7-64.5%" in page.locator("#chat").inner_text()
    card = page.locator("#sources .source-card").first.inner_text()
    assert "Jev Decision Models" in card


def test_a_pasted_question_of_104000_characters_is_reported_as_long_as_it_was(server, open_page):
    unit = "What accuracy does Lyra reach on miniF2F? "
    question = (unit * 2_500)[:104_000]  # ends "What acc": cleaning it changes nothing
    assert len(question) == 104_000 and question == question.strip()
    page = open_page(server, height=800)
    box = page.locator("#question textarea")
    box.fill(question)
    assert box.evaluate("e => e.value.length") == 104_000  # the box cuts nothing
    page.locator("#ask").click()
    wait_for_turn(page, 0)
    chat = page.locator("#chat").inner_text()
    assert "Your question was 104,000 characters long; only the first 2,000 were used." in chat
    assert "20,000" not in chat
    heading = page.locator("#sources .turn-title")
    assert len(heading.inner_text()) <= 151 and heading.inner_text().endswith("…")
    assert heading.get_attribute("title").startswith(unit.strip())  # all of it on hover
    card = page.locator("#sources .source-card").first
    assert "Lyra" in card.inner_text()
    box = card.bounding_box()
    assert 0 <= box["y"] < 400, f"the first source card starts at {box['y']}px"


def test_the_chat_shows_angle_brackets_in_paper_text_as_text(open_page, tmp_path, cache_dir):
    title = "A <script>alert(1)</script> test of quokka counting"
    chat = PaperChat(Settings(data_dir=tmp_path / "data", cache_dir=cache_dir, _env_file=None))
    chat.ingest(
        [
            Paper(
                paper_id="2501.00077",
                title=title,
                abstract="We count quokkas on Rottnest Island with a <b>bold</b> detector. "
                "The quokka counter is exact whenever a < b > c holds & the drone flies low.",
            ),
            Paper(title="Wombat burrows", abstract="We map wombat burrows with ground radar."),
        ]
    )
    app, url = start(chat)
    try:
        page = open_page(url)
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        ask(page, "When is the quokka counter exact?", 0)
        answer = page.locator('#chat [data-testid="bot"]').first
        assert "a < b > c holds & the drone flies low" in answer.inner_text()
        assert title in answer.inner_text()  # not "A test of quokka counting"
        assert answer.locator("a.cite").count() >= 1  # the citations are links still
        page.locator("#question textarea").fill("<b>quokka</b> detector?")
        page.locator("#ask").click()
        wait_for_turn(page, 1)
        assert (
            "<b>quokka</b> detector?"
            in page.locator('#chat [data-testid="user"]').last.inner_text()
        )
        assert "<b>bold</b> detector" in page.locator("#chat").inner_text()
        page.wait_for_timeout(300)
        assert dialogs == []
        assert page.locator("#chat script, #chat b").count() == 0
    finally:
        app.close()


def test_the_collection_table_shows_many_rows_at_once(server, open_page):
    page = open_page(server, width=1280, height=800)
    page.get_by_role("tab", name="Collection").click()
    page.locator("#titles").get_by_text("A Tutorial on Bayesian Optimization").wait_for()
    page.locator("#collection-counts").get_by_text(re.compile(r"\d+ papers")).wait_for()
    visible = page.evaluate(
        """() => {
        const frame = document.querySelector('#titles .virtual-table-viewport')
            .getBoundingClientRect();
        const bottom = Math.min(frame.bottom, window.innerHeight);
        return Array.from(document.querySelectorAll('#titles [role=row].virtual-row'))
            .map((row) => row.getBoundingClientRect())
            .filter((r) => r.height > 0 && r.top >= frame.top && r.bottom <= bottom + 1).length;
        }"""
    )
    assert visible >= 15, f"{visible} rows of 59 or more visible before scrolling"
    cell = page.locator("#titles [role=gridcell]").first
    assert cell.bounding_box()["height"] < 32  # a title takes one line


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({}, "none (offline, extractive answers)"),
        ({"gguf": True}, "tiny-test-model.Q4_K_M (llama.cpp, in PaperChat)"),
        ({"openai_api_key": "sk-test"}, "gpt-4o-mini (the OpenAI API)"),
        (
            {"openai_base_url": "http://127.0.0.1:11434/v1", "model": "llama3.2"},
            "llama3.2 (http://127.0.0.1:11434/v1)",
        ),
    ],
)
def test_settings_name_the_model_that_answers(tmp_path, cache_dir, environment, named):
    """A GGUF model is named, not the OpenAI default; naming it starts no llama.cpp."""
    from rag.config import LLMSettings
    from ui.app import answering_model, build_app

    options = {k: v for k, v in environment.items() if k in ("openai_api_key", "openai_base_url")}
    llm = {}
    if environment.get("gguf"):
        gguf = tmp_path / "tiny-test-model.Q4_K_M.gguf"
        gguf.write_bytes(b"GGUF" + bytes(64))  # no model: a server started on it would fail
        llm["gguf"] = gguf
    if "model" in environment:
        llm["model"] = environment["model"]
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=cache_dir,
        _env_file=None,
        llm=LLMSettings(**llm),
        **options,
    )
    chat = PaperChat(settings)
    assert answering_model(chat) == named
    app = build_app(chat)
    shown = [
        block.value
        for block in app.blocks.values()
        if getattr(block, "elem_id", None) == "language-model"
    ]
    assert shown == [f"Language model: **{named}**"]
    if environment.get("gguf"):
        assert "gpt-4o-mini" not in shown[0]
        assert chat.llm.local._server is None  # llama.cpp was not started


def test_settings_say_no_model_answers_by_default(server, open_page):
    page = open_page(server)
    page.get_by_role("tab", name="Settings").click()
    page.locator("#language-model").get_by_text("none (offline, extractive answers)").wait_for()
    assert "gpt-4o-mini" not in page.locator("body").inner_text()


def test_themes_view_shows_cards_and_a_paper_click_asks_about_it(server, open_page):
    page = open_page(server)
    page.get_by_role("tab", name="Themes").click()
    page.locator("#show-themes").click()
    # other tests of this module add papers to the server's collection: as many as it holds
    note = page.locator("#themes-note").get_by_text(re.compile(r"\d+ papers in \d+ themes"))
    note.wait_for()
    total = int(note.inner_text().split()[0])
    assert total >= 59
    papers = page.locator(".theme-paper")
    papers.nth(total - 1).wait_for()  # the cards render after the note
    assert papers.count() == total
    cards = page.locator(".theme-card")
    assert 2 <= cards.count() <= 10
    title = papers.first.inner_text().strip()
    papers.first.click()
    wait_for_turn(page, 0)
    chat = page.locator("#chat").inner_text()
    assert f"What is {title} about?" in chat and "[1]" in chat
    page.locator("#themes-from").get_by_role("textbox").fill("2026-13-01")
    page.locator("#show-themes").click()
    page.locator("#themes-note").get_by_text(re.compile("Error")).wait_for()


def test_a_comparison_is_a_real_table_in_the_chat(server, open_page):
    page = open_page(server)
    ask(page, "SAF vs UDIM vs GAQAT", 0)
    table = page.locator("#chat table")
    table.first.wait_for()
    headers = table.first.locator("th").all_inner_texts()
    assert [h.strip() for h in headers] == [
        "Paper",
        "Problem",
        "Approach",
        "Data or setting",
        "Main result",
    ]
    assert table.first.locator("tbody tr").count() == 3


def test_the_collection_questions_in_the_chat(both, open_page):
    """The questions of the collection issue, asked in the browser over both shipped
    collections (`make run`): today's papers are the day's listing, the fields are read."""
    _, url = both
    page = open_page(url)
    today = ask(page, "What are today's papers about?", 0)
    assert re.search(r"The 50 papers listed 2026-10-03 fall into \d+ themes", today)
    code = ask(page, "Which papers have code on GitHub?", 1).split("Which papers have code")[-1]
    assert "32 of the 109 papers link a GitHub repository" in code, code[:300]
    assert "All 50 papers have 0 upvotes" in ask(page, "What is the most upvoted paper?", 2)
    assert "by Delong Li" in ask(page, "Which papers did Delong Li write?", 3)
    ask(page, "compare honeycomb and loci in a table", 4)
    assert page.locator("#chat table").last.locator("tbody tr").count() == 2
