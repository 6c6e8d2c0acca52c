"""The `paperchat` command: a thin layer over `rag.PaperChat`."""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:  # each command imports what it needs when it runs: `--help` starts at once
    from rag.answer import Answer
    from rag.api import PaperChat
    from rag.search import Hit

app = typer.Typer(help="Ask questions about a collection of research papers.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")] = False,
) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=errors, show_path=False, show_time=False)],
    )


def fail(message: str, code: int = 2) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix into one line on stderr and exit code 2."""
    from pydantic import ValidationError

    from rag.config import settings_errors
    from rag.embed import EmbeddingError
    from rag.load import LoadError
    from rag.search import FilterError
    from rag.store import StoreUnavailable

    try:
        yield
    except ValidationError as exc:
        fail("; ".join(settings_errors(exc)))
    except FilterError as exc:
        fail(exc.naming(FILTER_OPTIONS[exc.field]))
    except (LoadError, StoreUnavailable, EmbeddingError, ValueError) as exc:  # QuestionError too
        fail(str(exc))


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders of papers.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Add papers from JSON, JSONL, CSV, arXiv Atom or Daily Papers text files."""
    columns = (
        TextColumn("embedding"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("chunks"),
        TextColumn("{task.fields[rate]:.1f}/s"),
        TimeElapsedColumn(),
    )
    with user_errors(), Progress(*columns, console=errors, transient=True, disable=as_json) as bar:
        task = bar.add_task("ingest", total=None, rate=0.0)

        def advance(done: int, total: int) -> None:
            elapsed = bar.tasks[0].elapsed or 1e-9
            bar.update(task, completed=done, total=total, rate=done / elapsed)

        report = open_chat().ingest(paths, progress=advance)
    if as_json:
        emit_json(report.to_dict())
    else:
        for line in report.skipped_lines():
            errors.print(f"[yellow]skipped[/] {line}", highlight=False)
        console.print(report.summary())
    if report.nothing_ingested:
        files = ", ".join(dict.fromkeys(s.source for s in report.skipped))
        fail(f"nothing ingested: every record of {files} was skipped", code=1)


@app.command()
def fetch(
    ids: Annotated[
        list[str] | None,
        typer.Argument(help="arXiv ids or URLs, with --arxiv.", show_default=False),
    ] = None,
    day: Annotated[str, typer.Option("--date", help="One day, YYYY-MM-DD.")] = "",
    date_from: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")] = "",
    date_to: Annotated[str, typer.Option("--to", help="Last day (default: today).")] = "",
    week: Annotated[str, typer.Option(help="An ISO week, YYYY-Www.")] = "",
    month: Annotated[str, typer.Option(help="A month, YYYY-MM.")] = "",
    since_last: Annotated[
        bool, typer.Option("--since-last", help="From the day after the last fetched to today.")
    ] = False,
    arxiv: Annotated[bool, typer.Option("--arxiv", help="Fetch the given arXiv ids.")] = False,
    refresh: Annotated[
        bool,
        typer.Option("--refresh", help="Download days again, though they were saved before."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Add the papers of Hugging Face Daily Papers days, or arXiv papers by id."""
    from rag.fetch import (
        FetchError,
        FetchReport,
        day_range,
        days_of_month,
        days_of_week,
        parse_day,
        today,
    )

    chosen = [
        name
        for name, given in (
            ("--date", day),
            ("--from", date_from),
            ("--week", week),
            ("--month", month),
            ("--since-last", since_last),
            ("--arxiv", arxiv),
        )
        if given
    ]
    if ids and not arxiv:
        fail(f"unexpected argument {ids[0]!r}: arXiv ids go after --arxiv")
    if len(chosen) != 1:
        given = f" (got {' and '.join(chosen)})" if chosen else ""
        fail(
            "say what to fetch with one of --date, --from [--to], --week, --month,"
            f" --since-last or --arxiv IDS{given}"
        )
    if date_to and not date_from:
        fail("--to needs --from")
    columns = (
        TextColumn("fetching {task.fields[step]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with user_errors():
        chat = open_chat()
        if arxiv:
            if not ids:
                fail("--arxiv needs at least one arXiv id")
            days = []
        elif day:
            days = day_range(parse_day(day, "--date"), parse_day(day, "--date"), "--date", "")
        elif date_from:
            first = parse_day(date_from, "--from")
            last = parse_day(date_to, "--to") if date_to else today()
            days = day_range(first, last, "--from", "--to")
        elif week:
            days = days_of_week(week)
        elif month:
            days = days_of_month(month)
        else:
            days = chat.days_since_last_fetch()
        with Progress(*columns, console=errors, transient=True, disable=as_json) as bar:
            task = bar.add_task("fetch", total=None, step="")

            def advance(done: int, total: int, step: str) -> None:
                bar.update(task, completed=done, total=total, step=step)

            try:
                if arxiv:
                    report = chat.fetch_arxiv(ids or [], progress=advance)
                else:
                    report = chat.fetch_daily(days, refresh, progress=advance)
            except FetchError as exc:
                report = exc.report or FetchReport(error=str(exc))
    if as_json:
        emit_json(report.to_dict())
    elif report.downloaded or report.reused or not report.error:  # not after no network at all
        for line in [*map(str, report.skipped[:10]), *report.ingest.skipped_lines()]:
            errors.print(f"[yellow]skipped[/] {line}", highlight=False)
        if len(report.skipped) > 10:
            errors.print(
                f"[yellow]skipped[/] {len(report.skipped) - 10} more records", highlight=False
            )
        what = "requests" if arxiv else "days"
        console.print(f"{what.capitalize()}: {report.summary()}", highlight=False)
    if report.error:
        fail(report.error)


def print_hits(hits: list[Hit]) -> None:
    if not hits:
        console.print("[dim]No matching papers.[/]")
        return
    caption = (
        "Ranked by fused score (reciprocal rank fusion of the dense and keyword rankings);"
        " similarity is the cosine similarity of query and evidence, comparable across queries."
    )
    table = Table(show_lines=True, caption=caption)
    for column in ("#", "fused", "similarity", "paper", "evidence"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(hits, 1):
        paper = f"[bold]{hit.title}[/]\n{hit.paper_id}" + (f"\n{hit.url}" if hit.url else "")
        evidence = hit.text if len(hit.text) < 400 else hit.text[:400] + "…"
        table.add_row(str(rank), f"{hit.fused:.4f}", f"{hit.score:.3f}", paper, evidence)
    console.print(table)


DateFromOption = Annotated[str, typer.Option("--from", help="Earliest date, YYYY-MM-DD.")]
DateToOption = Annotated[str, typer.Option("--to", help="Latest date, YYYY-MM-DD.")]
AuthorOption = Annotated[str, typer.Option("--author", help="Part of an author's name.")]
SourceOption = Annotated[str, typer.Option("--source", help="File name the papers came from.")]
DatedOption = Annotated[
    str,
    typer.Option(
        "--dated", help="What --from/--to compare: published (arXiv date) or listed (Daily Papers)."
    ),
]


def filters_of(date_from: str, date_to: str, author: str, source: str, dated: str) -> Any:
    """The search filters the options give (a FilterError names a bad one)."""
    from rag.search import Filters

    return Filters(date_from, date_to, author, source, dated)  # type: ignore[arg-type]


FILTER_OPTIONS = {  # Filters field -> the option that sets it
    "date_from": "--from",
    "date_to": "--to",
    "author": "--author",
    "source": "--source",
    "dated": "--dated",
}


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="Omit to search interactively.")] = None,
    k: Annotated[int | None, typer.Option("-k", help="Papers to return.", min=1, max=100)] = None,
    date_from: DateFromOption = "",
    date_to: DateToOption = "",
    author: AuthorOption = "",
    source: SourceOption = "",
    dated: DatedOption = "published",
    mode: Annotated[str, typer.Option(help="hybrid, dense or keyword.")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="Print hits as JSON.")] = False,
) -> None:
    """Find the papers that best match a query."""
    if mode not in ("hybrid", "dense", "keyword"):
        fail(f"--mode must be hybrid, dense or keyword, not {mode!r}")
    with user_errors():
        filters = filters_of(date_from, date_to, author, source, dated)
        chat = open_chat()

    def run(text: str) -> None:
        with user_errors():
            hits = chat.search(text, k=k, filters=filters, mode=mode)  # type: ignore[arg-type]
        if as_json:
            emit_json([h.to_dict() for h in hits])
        else:
            print_hits(hits)

    if query is not None:
        run(query)
        return
    console.print("Search the collection. An empty line or Ctrl-D quits.")
    while True:
        try:
            text = console.input("[bold cyan]search>[/] ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not text:
            break
        run(text)


def answerer_label(answer: Answer) -> str:
    if answer.fell_back:
        return "offline extractive (in place of the language model)"
    return "offline extractive" if answer.answerer == "extractive" else answer.answerer


def print_sources(answer: Answer) -> None:
    if not answer.citations:
        return
    table = Table(show_lines=True, title="Sources")
    for column in ("#", "paper", "supporting sentence"):
        table.add_column(column, overflow="fold")
    for citation in answer.citations:
        listing = citation.listing
        facts = [
            citation.date,
            f"Daily Papers {listing.listed}" if listing.listed else "",
            f"▲ {listing.upvotes}" if listing.upvotes is not None else "",
            listing.github,
        ]
        lines = [
            f"[bold]{escape(citation.title)}[/]",
            citation.url,
            " · ".join(filter(None, facts)),
        ]
        table.add_row(str(citation.number), "\n".join(filter(None, lines)), citation.quote)
    console.print(table)


def stream_answer(chat: PaperChat, question: str, history: list[dict], **options: Any) -> Answer:
    """Print the answer as it streams, then who answered and the sources; return it."""
    answer = None
    with user_errors():
        for part in chat.stream(question, history, **options):
            if isinstance(part, str):
                console.out(part, end="", highlight=False)
            else:
                answer = part
    console.out("")
    for notice in answer.notices:
        if notice not in answer.text:  # most stream with the text; a late one does not
            console.print(f"[yellow]{notice}[/]", highlight=False)
    console.print(f"[dim]answered by {answerer_label(answer)}[/]", highlight=False)
    print_sources(answer)
    return answer


AnswererOption = Annotated[
    str | None, typer.Option("--answerer", help="auto, extractive or llm (default: settings).")
]


GgufOption = Annotated[
    Path | None,
    typer.Option("--gguf", help="Answer with this GGUF model, run by llama.cpp in-process."),
]


def open_chat(gguf: Path | None = None) -> PaperChat:
    """PaperChat with the settings of the environment; `--gguf` overrides PAPERCHAT_LLM_GGUF."""
    from rag.api import PaperChat
    from rag.config import Settings
    from rag.local_llm import check_gguf

    settings = Settings()
    if gguf is not None:
        try:
            settings.llm = settings.llm.model_copy(update={"gguf": check_gguf(gguf)})
        except ValueError as exc:
            fail(f"--gguf: {exc}")
    return PaperChat(settings)


def check_answerer(answerer: str | None) -> None:
    if answerer not in (None, "auto", "extractive", "llm"):
        fail(f"--answerer must be auto, extractive or llm, not {answerer!r}")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="A question about the papers.")],
    answerer: AnswererOption = None,
    date_from: DateFromOption = "",
    date_to: DateToOption = "",
    author: AuthorOption = "",
    source: SourceOption = "",
    dated: DatedOption = "published",
    gguf: GgufOption = None,
    bibtex: Annotated[
        Path | None, typer.Option("--bibtex", help="Write the cited papers to this .bib file.")
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option("--markdown", help="Write the answer and its references to this file."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Answer as JSON.")] = False,
) -> None:
    """Answer a question from the collection, citing the papers it rests on."""
    check_answerer(answerer)
    with user_errors():
        filters = filters_of(date_from, date_to, author, source, dated)
        chat = open_chat(gguf)
        if as_json:
            answer = chat.ask(question, answerer=answerer, filters=filters)
            emit_json(answer.to_dict())
    if not as_json:
        answer = stream_answer(chat, question, [], answerer=answerer, filters=filters)
    for path, text in ((bibtex, answer.bibtex()), (markdown, answer.markdown())):
        if path is not None:
            try:
                save_export(path, text)
            except OSError as exc:
                fail(str(exc))


def save_export(path: Path, text: str) -> None:
    """Write an export and say so on stderr; an OSError says what went wrong in one line."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OSError(f"cannot write {path}: {exc.strerror or exc}") from exc
    entries = sum(line.startswith("@") for line in text.splitlines())
    what = f" ({entries} entr{'y' if entries == 1 else 'ies'})" if path.suffix == ".bib" else ""
    errors.print(f"wrote {path}{what}", highlight=False)


@app.command(name="chat")
def chat_command(answerer: AnswererOption = None, gguf: GgufOption = None) -> None:
    """A conversation in the terminal: follow-up questions understand what came before."""
    check_answerer(answerer)
    with user_errors():
        chat = open_chat(gguf)
    console.print(f"Ask about the papers. {CHAT_COMMANDS}", highlight=False)
    history: list[dict] = []
    answers: list[Answer] = []
    while True:
        try:
            question = console.input("[bold cyan]you>[/] ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not question:
            break
        command, _, argument = question.partition(" ")
        if command in ("/quit", "/exit"):
            break
        if command == "/export":
            export_conversation(argument.strip(), answers)
            continue
        if command.startswith("/") and command.count("/") == 1:  # "/export", not "/usr/x"
            known = "" if command == "/help" else f"{command} is not a command. "
            errors.print(f"[yellow]{known}{CHAT_COMMANDS}[/]", highlight=False)
            continue
        answer = stream_answer(chat, question, history, answerer=answerer)
        answers.append(answer)
        history += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer.text},
        ]


CHAT_COMMANDS = (
    "`/export FILE` saves the conversation as Markdown, or the papers it cited as BibTeX when"
    " FILE ends in .bib. An empty line, /quit or Ctrl-D quits."
)


def export_conversation(target: str, answers: list[Answer]) -> None:
    """`/export FILE` in chat: the papers cited so far as BibTeX when FILE ends in .bib,
    else the conversation as Markdown. A problem is one line, and the chat goes on."""
    from rag.export import bibtex_of_answers, conversation_markdown

    if not target:
        errors.print("[yellow]/export needs a file: /export chat.md or /export refs.bib[/]")
        return
    path = Path(target).expanduser()
    text = bibtex_of_answers(answers) if path.suffix == ".bib" else conversation_markdown(answers)
    try:
        save_export(path, text)
    except OSError as exc:
        errors.print(f"[bold red]error:[/] {exc}", highlight=False)


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def ui_auth(host: str, no_auth: bool, credentials: str | None) -> tuple[str, str] | None:
    """The UI's login, or why serving on `host` without one is refused."""
    if credentials:
        user, colon, password = credentials.partition(":")
        if not (user and colon and password):
            fail("PAPERCHAT_AUTH must be user:password")
        return user, password
    if host not in LOOPBACK and not no_auth:
        fail(
            f"serving on {host} opens PaperChat to the network: set PAPERCHAT_AUTH="
            "user:password, or pass --no-auth to serve it without a login"
        )
    if host not in LOOPBACK:
        errors.print(f"[bold yellow]warning:[/] serving on {host} without a login (--no-auth)")
    return None


def stop(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def log_line(line: str) -> None:
    """One line of a long-running server's log, with its UTC time, never wrapped."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    errors.print(f"{stamp} {line}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind; loopback by default.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 7860,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Allow no login off loopback.")
    ] = False,
    gguf: GgufOption = None,
    fetch_daily: Annotated[
        bool | None,
        typer.Option(
            "--fetch-daily",
            help="Fetch Daily Papers now and every PAPERCHAT_FETCH_EVERY hours (default 6).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the chat web UI (http://127.0.0.1:7860 by default). Other paperchat commands
    on the same data directory, a cron job's included, work while it runs."""
    from rag.local_llm import LocalModelError
    from rag.owner import StoreBusy

    with user_errors():
        chat = open_chat(gguf)
        try:
            chat.share_store()
        except StoreBusy as exc:
            fail(str(exc))
        secret = chat.settings.auth.get_secret_value() if chat.settings.auth else None
        if chat.local_model:  # load the model now, not on the first question
            try:
                chat.local_model.url  # noqa: B018
            except LocalModelError as exc:
                fail(str(exc))
    auth = ui_auth(host, no_auth, secret)
    from rag.schedule import DailyFetch
    from ui.app import serve as serve_ui  # gradio loads only for this command

    daily = None
    if chat.settings.fetch.daily if fetch_daily is None else fetch_daily:
        daily = DailyFetch(chat, chat.settings.fetch.every, report=log_line).start()
    with user_errors():
        try:
            app = serve_ui(chat, host, port, auth, daily)
        except OSError:  # Gradio's own message tells how to change launch(), not the CLI
            fail(
                f"cannot serve on {host}:{port}: the port is taken or the address is not this"
                " machine's; choose another with --port or --host"
            )
    url = app.local_url.rstrip("/")
    if chat.chroma_server:
        chat.chroma_server.announce(url)
    signal.signal(signal.SIGTERM, stop)  # systemd, kill: stopped as by Ctrl+C
    try:  # Ctrl+C may come as soon as the line is out
        console.print(f"PaperChat is running at {url} — press Ctrl+C to stop", highlight=False)
        while app.is_running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        app.close()
        chat.close()
        console.print("PaperChat stopped.")


GATES = {  # option name -> (summary metric, comparison)
    "min_recall": ("recall@{k}", ">="),
    "min_mrr": ("mrr", ">="),
    "min_citation_precision": ("citation_precision", ">="),
    "max_invalid_citations": ("invalid_citations", "<="),
    "min_abstention_accuracy": ("abstention_accuracy", ">="),
    "max_false_abstention": ("false_abstention", "<="),
    "min_keyword_hit": ("keyword_hit", ">="),
}


def failed_gates(summary: dict[str, Any], k: int, limits: dict[str, float | None]) -> list[str]:
    failures = []
    for option, limit in limits.items():
        if limit is None:
            continue
        metric, op = GATES[option]
        metric = metric.format(k=k)
        value = summary.get(metric)
        ok = value is not None and (value >= limit if op == ">=" else value <= limit)
        if not ok:
            failures.append(
                f"{metric} = {value if value is None else round(value, 4)}, needs {op} {limit}"
            )
    return failures


@app.command(name="eval")
def eval_command(
    questions: Annotated[list[Path], typer.Argument(help="JSONL question sets (dev, test, ...).")],
    papers: Annotated[
        Path | None,
        typer.Option(help="Evaluate on a fresh collection of this file, not on yours."),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Papers retrieved per question.", min=1)] = 5,
    answerer: Annotated[str, typer.Option(help="extractive or llm.")] = "extractive",
    compare: Annotated[
        str, typer.Option(help="Retrievers side by side: dense, bm25, hybrid.")
    ] = "hybrid",
    out: Annotated[
        Path, typer.Option(help="Folder for results.json, report.md, plots (one per set).")
    ] = Path("eval-results"),
    judge: Annotated[bool, typer.Option(help="Faithfulness, with the LLM as judge.")] = False,
    gguf: GgufOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    min_recall: Annotated[float | None, typer.Option(help="Gate: recall@k at least.")] = None,
    min_mrr: Annotated[float | None, typer.Option(help="Gate: MRR at least.")] = None,
    min_citation_precision: Annotated[float | None, typer.Option(help="Gate.")] = None,
    max_invalid_citations: Annotated[float | None, typer.Option(help="Gate.")] = None,
    min_abstention_accuracy: Annotated[float | None, typer.Option(help="Gate.")] = None,
    max_false_abstention: Annotated[float | None, typer.Option(help="Gate.")] = None,
    min_keyword_hit: Annotated[float | None, typer.Option(help="Gate.")] = None,
) -> None:
    """Score question sets, side by side; exits 1 when a gate is not met (gates apply to the
    last retriever in --compare, on every set)."""
    from rag.eval import evaluate, faithfulness, load_questions, scratch_collection
    from rag.report import write_outputs

    if answerer not in ("extractive", "llm"):
        fail(f"--answerer must be extractive or llm, not {answerer!r}")
    configs = [c.strip() for c in compare.split(",") if c.strip()]
    names = [path.stem for path in questions]
    if len(set(names)) < len(names):
        fail("question sets need different file names: their results go to --out/<name>/")
    results: dict[str, dict[str, Any]] = {}
    with user_errors(), ExitStack() as stack:
        chat = open_chat(gguf)
        if papers is not None:
            errors.print(f"Building a scratch collection from {papers}…", highlight=False)
            chat = stack.enter_context(scratch_collection(papers, chat.settings))
        if judge and chat.llm is None:
            fail("--judge needs a language model: set OPENAI_API_KEY or OPENAI_BASE_URL")
        sets = {
            name: load_questions(path, chat) for name, path in zip(names, questions, strict=True)
        }
        columns = (TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=errors, transient=True, disable=as_json) as bar:
            for name, question_set in sets.items():
                task = bar.add_task(name, total=len(question_set) * len(configs))
                results[name] = evaluate(
                    chat,
                    question_set,
                    k=k,
                    answerer=answerer,
                    configs=configs,
                    judge=(lambda a: faithfulness(a, chat.llm.supports)) if judge else None,
                    progress=lambda done, total, t=task: bar.update(t, completed=done, total=total),
                )
        files = {
            name: write_outputs(result, out / name if len(results) > 1 else out)
            for name, result in results.items()
        }
    limits = {name: value for name, value in locals().items() if name in GATES}
    failures = [
        f"{name}: {failure}" if len(results) > 1 else failure
        for name, result in results.items()
        for failure in failed_gates(result["summary"][configs[-1]], k, limits)
    ]
    if as_json:
        sets = {
            name: {
                "summary": result["summary"],
                "targets": result["targets"],
                "files": [str(f) for f in files[name]],
            }
            for name, result in results.items()
        }
        emit_json({"sets": sets, "gates_failed": failures})
    else:
        console.print(eval_table(results, configs, k, papers))
        console.print(f"Reports, results and plots in {out}/")
    for failure in failures:
        errors.print(f"[bold red]gate failed:[/] {failure}", highlight=False)
    if failures:
        raise typer.Exit(1)


def eval_table(
    results: dict[str, dict[str, Any]], configs: list[str], k: int, papers: Path | None
) -> Table:
    """One column per question set and retriever; each target's mark beside its metric."""
    from rag.eval import TARGETS, summary_metrics

    counts = ", ".join(f"{name} {len(r['records']) // len(configs)}" for name, r in results.items())
    where = f" on {papers.name}" if papers else ""
    table = Table(title=f"Questions{where}: {counts}; k = {k}")
    table.add_column("metric")
    columns = [(name, config) for name in results for config in configs]
    for name, config in columns:
        table.add_column(name if len(configs) == 1 else f"{name} {config}", justify="right")
    table.add_column("target")
    targets = {metric: f"{op} {value}" for metric, op, value in TARGETS}
    for metric in summary_metrics(k):
        values = [results[name]["summary"][config][metric] for name, config in columns]
        if all(v is None for v in values):
            continue
        shown = (
            "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v) for v in values
        )
        table.add_row(metric, *shown, targets.get(metric, ""))
    return table


@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Papers, chunks, sources and disk use of the collection."""
    with user_errors():
        data = open_chat().stats()
    if as_json:
        emit_json(data)
        return
    table = Table(show_header=False)
    for key, value in data.items():
        if value == "":  # served_by, with no server
            continue
        shown = (
            ", ".join(f"{s}: {n}" for s, n in value.items()) if isinstance(value, dict) else value
        )
        table.add_row(key, str(shown))
    console.print(table)


@app.command()
def remove(
    paper_id: Annotated[str, typer.Argument(help="The paper's id (see search).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print what went as JSON.")] = False,
) -> None:
    """Delete one paper from the collection; exits 1 when there is no such paper."""
    from rag.ingest import PaperNotFound

    with user_errors():
        try:
            deleted = open_chat().remove(paper_id)
        except PaperNotFound as exc:
            fail(str(exc), code=1)
    if as_json:
        emit_json({"paper_id": paper_id, "chunks_deleted": deleted})
    else:
        console.print(f"Removed {paper_id} ({deleted} chunks).")


@app.command()
def reset(yes: Annotated[bool, typer.Option("--yes", help="Confirm.")] = False) -> None:
    """Delete every paper in the collection."""
    if not yes:
        fail("this deletes the whole collection; pass --yes to confirm")
    with user_errors():
        open_chat().reset()
    console.print("The collection is empty.")
