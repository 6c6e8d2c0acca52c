"""The Gradio app: chat, sources, settings and collection panels over one `PaperChat`."""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import time
from functools import partial
from html import escape
from pathlib import Path
from typing import Any

import gradio as gr

from rag.answer import Answer
from rag.api import PaperChat
from rag.embed import EmbeddingError
from rag.export import bibtex_of_answers, conversation_markdown
from rag.fetch import FetchError, FetchReport, day_range, parse_day
from rag.load import LOADERS, LoadError
from rag.owner import writer, writer_active
from rag.question import clean_question
from rag.schedule import DailyFetch
from rag.search import FilterError, Filters
from rag.store import StoreUnavailable
from ui.render import CSS, HEAD, answered_by, as_text, chat_markdown, source_cards

log = logging.getLogger(__name__)
# Example questions, each with the starts of the titles of the papers it asks about: one is
# offered while those papers are in the collection. Those of the two shipped collections
# (data/daily_papers.txt, data/hf_daily_papers_2026-10-03.json) alternate, so that both are
# asked about when both are loaded.
EXAMPLES: list[tuple[str, tuple[str, ...]]] = [
    (
        "Which papers address reward overoptimization?",
        ("Reward Model Ensembles Help Mitigate", "Provably Mitigating Overoptimization in RLHF"),
    ),
    (
        "Which papers give video world models a memory of scenes already seen?",
        ("Honeycomb: Constant-Size Scene Memory", "LOCI: Spatial Linear Memory"),
    ),
    ("What accuracy does Lyra reach on miniF2F?", ("Lyra: Orchestrating Dual Correction",)),
    (
        "How much does Jev reduce median decision latency?",
        ("Replacing Large Language Models with Jev Decision Models",),
    ),
    (
        "Compare SequenceMatch and Transformer Copilot",
        ("SequenceMatch: Imitation Learning", "Transformer Copilot: Learning from The Mistake"),
    ),
    (
        "Which papers study looped transformers?",
        ("Decoding Looped Transformers", "Transformers Stop Thinking Too Early"),
    ),
    ("Which papers use sharpness-aware minimization?", ("Sharpness-Aware Training for Free",)),
    ("What does KaliBench evaluate?", ("KaliBench: A Fine-Grained Benchmark",)),
]
MAX_EXAMPLES = 4  # buttons under the question box
NO_MODEL = "none (offline, extractive answers)"
HEADING_CHARS = 150  # of a question, as the heading of its sources
MAX_UPLOAD_MB = 20
EXPORT_MAX_AGE = 600  # seconds a download's source file is kept; Gradio serves its own copy
MAX_FETCH_DAYS = 62  # days one click fetches; the CLI takes any range
MAX_LISTED = 500  # titles sent to the page at once; search narrows a larger collection
UPLOAD_TYPES = sorted(LOADERS)
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
THEME = gr.themes.Soft(  # system fonts only: the page never fetches fonts from the web
    font=["ui-sans-serif", "system-ui", "sans-serif"],
    font_mono=["ui-monospace", "monospace"],
)
USER_ERRORS = (ValueError, LoadError, StoreUnavailable, EmbeddingError)
FILTER_LABELS = {"date_from": "From date", "date_to": "To date"}  # the fields that can be wrong
EMPTY_QUESTION_HINT = "Type a question first."


def new_session() -> dict[str, list]:
    """Per browser session: the plain conversation, what the chat shows, source cards, and
    the answers (for the downloads)."""
    return {"history": [], "display": [], "cards": [], "answers": []}


def examples_for(titles: list[str]) -> list[str]:
    """The example questions whose papers are all in a collection of these titles, the first
    MAX_EXAMPLES of them."""
    starts = tuple(start for _, about in EXAMPLES for start in about)
    present = {start for start in starts for title in titles if title.startswith(start)}
    return [text for text, about in EXAMPLES if present.issuperset(about)][:MAX_EXAMPLES]


def answering_model(chat: PaperChat) -> str:
    """The model that writes the answers, and where it runs; or that none does. Naming it
    starts nothing (a GGUF model's llama.cpp starts on the first question)."""
    llm = chat.llm
    if llm is None:
        return NO_MODEL
    return f"{llm.name} ({'llama.cpp, in PaperChat' if llm.local else llm.where})"


def about_paper(title: str) -> str:
    """The question a paper's button in the Themes view asks."""
    return f"What is {title} about?"


def heading(question: str) -> str:
    """A question as the heading of its sources: its first HEADING_CHARS characters."""
    return question if len(question) <= HEADING_CHARS else question[:HEADING_CHARS].rstrip() + "…"


def sources_panel(session: dict) -> str:
    """Every turn's cards, newest first and open; older turns fold away. A long question's
    heading is cut short (all of it shows on hover), so that its cards stay in view."""
    blocks = []
    for turn, (question, cards) in reversed(list(enumerate(session["cards"]))):
        is_open = " open" if turn == len(session["cards"]) - 1 else ""
        title = f'class="turn-title" title="{escape(question)}"'
        blocks.append(
            f'<details class="turn"{is_open}><summary {title}>{escape(heading(question))}'
            f"</summary>{cards}</details>"
        )
    return "".join(blocks) or '<p class="no-sources">Sources of each answer appear here.</p>'


def as_used(question: str, limit: int) -> str:
    """The question as the chain uses it, for display: cleaned, and cut at `limit` with "…"."""
    text = clean_question(question)
    return text if len(text) <= limit else text[:limit] + "…"


def welcome(stats: dict[str, Any], schedule: str = "", examples: bool = False) -> str:
    """What the empty chat shows: what is loaded, from where, and how to start (with the
    `examples` shown or without); and when Daily Papers are fetched next, when the server
    fetches them."""
    after = f"\n\n{escape(schedule)}" if schedule else ""
    if not stats["papers"]:
        return (
            "### The collection is empty\nAdd papers in the **Collection** tab: upload a file"
            " (JSON, JSONL, CSV, arXiv Atom or Daily Papers text), or fetch the Hugging Face"
            " Daily Papers of some days. Then ask about them." + after
        )
    files = list(stats["sources"])
    more = len(files) - 3
    example = ", or click an example" if examples else ""
    origin = ", ".join(files[:3]) + (f" and {more} more file{'s' * (more > 1)}" if more > 0 else "")
    return (
        f"### {stats['papers']} papers loaded\nfrom {escape(origin)}.\n\n"
        f"Ask a question below{example}. Every answer cites its papers: click a"
        " **[n]** to see the source. Add your own papers in the **Collection** tab." + after
    )


def failed(message: str) -> dict[str, Any]:
    """The ingest report, styled as a failure."""
    return gr.update(value=f"⚠️ {message}", elem_classes=["failed"])


def safe_upload_name(name: str) -> str:
    """A file name without any path (POSIX or Windows), reduced to harmless characters, at
    most 100 of them before its extension, which is kept."""
    base = Path(name.replace("\\", "/")).name
    suffix = Path(base).suffix
    stem = SAFE_NAME.sub("_", base[: len(base) - len(suffix)]).strip("._")[:100]
    return (stem or "upload") + SAFE_NAME.sub("", suffix.lower())


def remove_old_exports(root: Path, now: float, max_age: float = EXPORT_MAX_AGE) -> None:
    """Delete the download folders made over `max_age` seconds before `now`: Gradio has
    copied their files to its cache by then. A folder is one answer's downloads. The
    root is made again if a temporary-files cleaner removed it from a server up for days."""
    root.mkdir(parents=True, exist_ok=True)
    for folder in root.iterdir():
        try:
            if now - folder.stat().st_mtime > max_age:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:  # another session removed it first
            continue


def build_app(chat: PaperChat, daily: DailyFetch | None = None) -> gr.Blocks:
    settings = chat.settings
    export_root = Path(tempfile.mkdtemp(prefix="paperchat-export-"))

    def respond(
        question: str,
        session: dict,
        k: float,
        date_from: str,
        date_to: str,
        dated: str,
        author: str,
        answerer: str,
    ):
        if not question.strip():  # nothing to ask: change nothing, say what to do
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), "", EMPTY_QUESTION_HINT
            return
        session = {key: list(value) for key, value in (session or new_session()).items()}
        turn = len(session["cards"])
        asked = as_used(question, settings.answer.max_question_chars)
        display = [*session["display"], {"role": "user", "content": as_text(asked)}]
        shown = [*display, {"role": "assistant", "content": ""}]
        yield shown, session, gr.skip(), "", "", ""
        text, answer = "", None
        try:
            filters = Filters(date_from=date_from, date_to=date_to, author=author, dated=dated)
            for part in chat.stream(
                question, session["history"], answerer=answerer or None, filters=filters, k=int(k)
            ):
                if isinstance(part, Answer):
                    answer = part
                else:
                    text += part
                    shown[-1] = {"role": "assistant", "content": chat_markdown(text, turn)}
                    yield shown, session, gr.skip(), "", "", ""
        except USER_ERRORS as exc:
            named = exc.naming(FILTER_LABELS[exc.field]) if isinstance(exc, FilterError) else exc
            message = f"⚠️ {escape(str(named))}"
            shown[-1] = {"role": "assistant", "content": message}
            yield shown, session, gr.skip(), "", question, ""
            return
        session["history"] += [
            {"role": "user", "content": answer.question},
            {"role": "assistant", "content": answer.text},
        ]
        session["display"] = [
            *display,
            {"role": "assistant", "content": chat_markdown(answer.text, turn)},
        ]
        session["cards"].append((asked, source_cards(answer, turn)))
        session["answers"].append(answer)
        yield session["display"], session, sources_panel(session), answered_by(answer), "", ""

    def collection_overview(query: str = "") -> tuple:
        """The counts, the titles matching `query`, the chat's welcome for what is loaded,
        and the example questions about papers in the collection (their row, each button)."""
        try:
            stats, papers = chat.stats(), chat.papers()
        except USER_ERRORS as exc:
            failure = f"⚠️ {escape(str(exc))}"
            return failure, [], gr.update(placeholder=""), *[gr.skip()] * (MAX_EXAMPLES + 1)
        words = query.casefold().split()
        rows = [
            [p["title"], p["paper_id"], p["source"]]
            for p in papers
            if all(w in f"{p['title']} {p['paper_id']}".casefold() for w in words)
        ]
        shown = (
            f"Showing {len(rows)}."
            if len(rows) <= MAX_LISTED
            else f"Showing {MAX_LISTED:,} of {len(rows):,}: search the titles to narrow."
        )
        summary = (
            f"**{stats['papers']} papers**, {stats['chunks']} chunks, "
            f"from {len(stats['sources'])} file(s). {shown}"
        )
        asks = examples_for([p["title"] for p in papers])
        buttons = [
            gr.update(value=asks[n], visible=True) if n < len(asks) else gr.update(visible=False)
            for n in range(MAX_EXAMPLES)
        ]
        schedule = daily.describe() if daily else ""
        return (
            summary,
            rows[:MAX_LISTED],
            gr.update(placeholder=welcome(stats, schedule, examples=bool(asks))),
            gr.update(visible=bool(asks)),
            *buttons,
        )

    def title_search(query: str) -> tuple[str, list[list[str]]]:
        """The counts and matching titles only: the chat is left alone while one types."""
        summary, rows, *_ = collection_overview(query)
        return summary, rows

    def say_if_waiting(progress: gr.Progress) -> None:
        """A write waits for the one under way (a cron fetch, another upload): say for whom."""
        if writer_active(settings.data_dir):
            progress(None, desc=f"Waiting for {writer(settings.data_dir)} to finish writing…")

    def add_papers(upload: str | None, query: str, progress=gr.Progress()):  # noqa: B008
        """Ingest an uploaded file; the report says plainly when nothing went in."""
        if not upload:
            return failed("Choose a file first."), gr.skip(), *collection_overview(query)
        received = Path(upload)
        try:
            suffix = received.suffix.lower()
            if suffix not in LOADERS:
                raise LoadError(
                    f"{received.name}: unsupported file type {suffix or '(none)'};"
                    f" use one of {', '.join(UPLOAD_TYPES)}"
                )
            if received.stat().st_size > MAX_UPLOAD_MB * 1024 * 1024:
                raise LoadError(f"{received.name}: larger than {MAX_UPLOAD_MB} MB")
            with tempfile.TemporaryDirectory(prefix="paperchat-upload-") as folder:
                path = Path(folder) / safe_upload_name(received.name)
                shutil.copyfile(received, path)

                def advance(done: int, total: int) -> None:
                    progress(done / total if total else 0, desc=f"Embedding {done}/{total}")

                say_if_waiting(progress)
                report = chat.ingest(path, progress=advance)
        except USER_ERRORS as exc:
            return failed(escape(str(exc))), None, *collection_overview(query)
        finally:
            received.unlink(missing_ok=True)
        skipped = [f"- skipped {escape(line)}" for line in report.skipped_lines()]
        name = escape(received.name)
        if report.nothing_ingested:
            lines = [f"Nothing added from **{name}**: every record was skipped.", *skipped]
            return failed("\n".join(lines)), None, *collection_overview(query)
        lines = [f"**{name}**: {escape(report.summary())}", *skipped]
        return gr.update(value="\n".join(lines), elem_classes=[]), None, *collection_overview(query)

    def fetch_days(first: str, last: str, query: str, progress=gr.Progress()):  # noqa: B008
        """Fetch Daily Papers days and ingest them; the report says what came and what failed."""
        try:
            start = parse_day(first, "From day")
            end = parse_day(last, "To day") if last.strip() else start
            if (end - start).days >= MAX_FETCH_DAYS:
                raise ValueError(f"fetch at most {MAX_FETCH_DAYS} days at a time here")
            days = day_range(start, end, "From day", "To day")

            def advance(done: int, total: int, step: str) -> None:
                if done < total:
                    progress(done / total, desc=f"Fetching {step}")
                else:
                    progress(None, desc=f"Fetched {total} day(s); adding the papers…")

            say_if_waiting(progress)
            try:
                report, problem = chat.fetch_daily(days, progress=advance), ""
            except FetchError as exc:
                report, problem = exc.report or FetchReport(), str(exc)
        except USER_ERRORS as exc:
            return failed(escape(str(exc))), *collection_overview(query)
        span = str(start) if start == end else f"{start} to {end}"
        skipped = [f"- skipped {escape(str(s))}" for s in report.skipped[:10]]
        lines = [f"**Daily Papers {span}**: {escape(report.summary())}", *skipped]
        if problem:
            return failed("  \n".join([escape(problem), *lines])), *collection_overview(query)
        return gr.update(value="\n".join(lines), elem_classes=[]), *collection_overview(query)

    def themes_of(first: str, last: str) -> tuple[list[dict], str]:
        """The themes of the papers of those days (all without), as cards' data."""
        try:
            found = chat.themes(first.strip(), last.strip())
        except (FilterError, *USER_ERRORS) as exc:
            return [], f"**Error:** {exc}"
        total = sum(len(t.papers) for t in found)
        note = f"{total} papers in {len(found)} themes." if found else "No papers for those days."
        return [t.to_dict() for t in found], note

    def exports(session: dict) -> tuple[dict, dict]:
        """The conversation as Markdown and the papers it cited as BibTeX, ready to download."""
        answers = (session or new_session())["answers"]
        if not answers:
            return gr.update(value=None, interactive=False), gr.update(
                value=None, interactive=False
            )
        remove_old_exports(export_root, time.time())
        folder = Path(tempfile.mkdtemp(dir=export_root))
        conversation = folder / "paperchat-conversation.md"
        conversation.write_text(conversation_markdown(answers), encoding="utf-8")
        references = folder / "paperchat-references.bib"
        references.write_text(bibtex_of_answers(answers), encoding="utf-8")
        return (
            gr.update(value=str(conversation), interactive=True),
            gr.update(value=str(references), interactive=True),
        )

    def api_chat(question: str, history: list[dict] | None = None, k: int | None = None) -> dict:
        """Answer a question; returns the Answer as a dict: text, citations, abstained, ..."""
        return chat.ask(question, history or [], k=k).to_dict()

    # Gradio's copies of uploads and downloads go after a day.
    with gr.Blocks(title="PaperChat", delete_cache=(3600, 86400)) as app:
        session = gr.State(new_session)
        gr.Markdown(
            "## PaperChat\nAsk about the papers in the collection. "
            "Every answer cites them: click a **[n]** to see its source."
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                chatbot = gr.Chatbot(
                    label="Chat",
                    show_label=False,
                    elem_id="chat",
                    height=520,
                    feedback_options=None,
                    buttons=["copy"],
                )
                label = gr.Markdown(elem_id="answered-by")
                with gr.Row():
                    question = gr.Textbox(
                        placeholder="Ask about the papers…",
                        show_label=False,
                        scale=5,
                        elem_id="question",
                        autofocus=True,  # no max_length: the chain cuts and says how long it was
                    )
                    ask = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask")
                hint = gr.Markdown(elem_id="question-hint")
                with gr.Row(elem_id="examples", visible=False) as examples:  # set on load
                    example_buttons = [
                        gr.Button("", size="sm", visible=False) for _ in range(MAX_EXAMPLES)
                    ]
                with gr.Row():
                    new_chat = gr.Button("New conversation", size="sm", variant="secondary")
                    download_chat = gr.DownloadButton(
                        "Download conversation (Markdown)",
                        size="sm",
                        interactive=False,
                        elem_id="download-chat",
                    )
                    download_refs = gr.DownloadButton(
                        "Download cited papers (BibTeX)",
                        size="sm",
                        interactive=False,
                        elem_id="download-bibtex",
                    )
            with gr.Column(scale=2, min_width=300), gr.Tabs():
                with gr.Tab("Sources"):
                    sources = gr.HTML(sources_panel(new_session()), elem_id="sources")
                with gr.Tab("Settings"):
                    k = gr.Slider(
                        1,
                        12,
                        value=settings.answer.sources,
                        step=1,
                        label="Papers to retrieve",
                        elem_id="papers-k",
                    )
                    date_from = gr.Textbox(
                        label=FILTER_LABELS["date_from"], placeholder="YYYY-MM-DD"
                    )
                    date_to = gr.Textbox(label=FILTER_LABELS["date_to"], placeholder="YYYY-MM-DD")
                    dated = gr.Radio(
                        [("arXiv date", "published"), ("day on Daily Papers", "listed")],
                        value="published",
                        label="The dates filter by",
                        elem_id="dated",
                    )
                    author = gr.Textbox(label="Author name contains")
                    model = answering_model(chat)
                    gr.Markdown(f"Language model: **{escape(model)}**", elem_id="language-model")
                    answerer = gr.Radio(
                        ["auto", "extractive", "llm"],
                        value=settings.llm.answerer,
                        label="Answerer",
                        visible=settings.llm_configured,
                    )
                with gr.Tab("Collection") as collection_tab:
                    counts = gr.Markdown(elem_id="collection-counts")
                    title_query = gr.Textbox(
                        label="Search titles and ids",
                        show_label=False,  # the label is read out; the placeholder shows it
                        placeholder="Search titles and ids",
                    )
                    titles = gr.Dataframe(
                        headers=["title", "paper id", "source"],
                        interactive=False,
                        elem_id="titles",
                        max_height=640,
                        column_widths=["52%", "24%", "24%"],
                    )
                    upload = gr.File(
                        label=f"Add papers ({', '.join(UPLOAD_TYPES)}; up to {MAX_UPLOAD_MB} MB)",
                        file_types=UPLOAD_TYPES,
                        type="filepath",
                        elem_id="upload",
                    )
                    add = gr.Button("Add to collection", elem_id="add")
                    report = gr.Markdown(elem_id="ingest-report")
                    gr.Markdown("Fetch the papers of Hugging Face Daily Papers days:")
                    with gr.Row():
                        fetch_from = gr.Textbox(
                            label="From day", placeholder="YYYY-MM-DD", elem_id="fetch-from"
                        )
                        fetch_to = gr.Textbox(
                            label="To day (empty: that day only)",
                            placeholder="YYYY-MM-DD",
                            elem_id="fetch-to",
                        )
                    fetch = gr.Button("Fetch", elem_id="fetch")
                    fetch_report = gr.Markdown(elem_id="fetch-report")
                with gr.Tab("Themes"):
                    with gr.Row():
                        themes_from = gr.Textbox(
                            label="From day", placeholder="YYYY-MM-DD", elem_id="themes-from"
                        )
                        themes_to = gr.Textbox(
                            label="To day", placeholder="YYYY-MM-DD", elem_id="themes-to"
                        )
                    show_themes = gr.Button("Show themes", elem_id="show-themes")
                    themes_note = gr.Markdown(elem_id="themes-note")
                    found_themes = gr.State([])

                    @gr.render(inputs=found_themes)
                    def theme_cards(found: list[dict]) -> None:
                        """A card per theme; a paper's button asks about it in the chat."""
                        for number, theme in enumerate(found, 1):
                            with gr.Column(variant="panel", elem_classes=["theme-card"]):
                                count = len(theme["papers"])
                                gr.Markdown(f"**{number}. {theme['name']}** ({count} papers)")
                                for paper in theme["papers"]:
                                    paper_button = gr.Button(
                                        paper["title"], size="sm", elem_classes="theme-paper"
                                    )
                                    paper_button.click(
                                        partial(about_paper, paper["title"]),
                                        None,
                                        question,
                                        queue=False,
                                        **hidden,
                                    ).then(respond, ask_inputs, ask_outputs, **hidden).then(
                                        exports, session, downloads, **hidden
                                    )

        ask_inputs = [question, session, k, date_from, date_to, dated, author, answerer]
        ask_outputs = [chatbot, session, sources, label, question, hint]
        downloads = [download_chat, download_refs]
        hidden = {"api_visibility": "undocumented"}
        question.submit(respond, ask_inputs, ask_outputs, api_name="ask_ui", **hidden).then(
            exports, session, downloads, **hidden
        )
        ask.click(respond, ask_inputs, ask_outputs, api_name="ask_ui_button", **hidden).then(
            exports, session, downloads, **hidden
        )
        for button in example_buttons:  # a button's value is the question it asks
            button.click(lambda text: text, button, question, queue=False, **hidden).then(
                respond, ask_inputs, ask_outputs, **hidden
            ).then(exports, session, downloads, **hidden)
        cleared = gr.update(value=None, interactive=False)
        chatbot.clear(
            lambda: (new_session(), sources_panel(new_session()), "", cleared, cleared),
            None,
            [session, sources, label, *downloads],
            queue=False,
            **hidden,
        )
        new_chat.click(
            lambda: ([], new_session(), sources_panel(new_session()), "", cleared, cleared),
            None,
            [chatbot, session, sources, label, *downloads],
            queue=False,
            **hidden,
        )
        overview = [counts, titles, chatbot, examples, *example_buttons]
        title_query.change(title_search, title_query, [counts, titles], **hidden)
        # Other processes add papers too (the CLI, a cron job): counted again on every visit.
        collection_tab.select(
            title_search, title_query, [counts, titles], show_progress="hidden", **hidden
        )
        add.click(add_papers, [upload, title_query], [report, upload, *overview], **hidden)
        fetch.click(
            fetch_days, [fetch_from, fetch_to, title_query], [fetch_report, *overview], **hidden
        )
        show_themes.click(
            themes_of, [themes_from, themes_to], [found_themes, themes_note], **hidden
        )
        app.load(collection_overview, None, overview, **hidden)
        gr.api(api_chat, api_name="chat")
    return app


def launch_options(auth: tuple[str, str] | None) -> dict[str, Any]:
    return {
        "theme": THEME,
        "css": CSS,
        "head": HEAD,
        "auth": auth,
        "max_file_size": f"{MAX_UPLOAD_MB}mb",
        "show_error": False,
        "share": False,
        "footer_links": ["api"],
    }


def serve(
    chat: PaperChat,
    host: str,
    port: int,
    auth: tuple[str, str] | None,
    daily: DailyFetch | None = None,
) -> gr.Blocks:
    """Warm the model (and, for up to 2,000 papers, the sentences answers quote), then serve
    in the background and return the app; a crowd asking at once waits its turn, and no one
    is refused."""
    chat.ask("warm up", answerer="extractive")
    chat.warm_sentences()
    app = build_app(chat, daily)
    app.queue(default_concurrency_limit=4, max_size=256)
    app.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,  # the CLI says where it runs; Gradio's banner offers share=True
        **launch_options(auth),
    )
    return app
