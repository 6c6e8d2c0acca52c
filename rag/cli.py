"""The `paperchat` command: a thin layer over `rag.PaperChat`."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rag.api import PaperChat
from rag.chain import Answer
from rag.load import LoadError
from rag.search import Filters, Hit
from rag.store import StoreUnavailable

app = typer.Typer(help="Ask questions about a collection of research papers.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=errors, show_path=False, show_time=False)],
    )


def fail(message: str, code: int = 2) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix into one line on stderr and exit code 2."""
    try:
        yield
    except ValidationError as exc:
        fail(f"invalid settings: {exc}")
    except (LoadError, StoreUnavailable, ValueError) as exc:  # QuestionError is a ValueError
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
        TextColumn("texts"),
        TextColumn("{task.fields[rate]:.1f} texts/s"),
        TimeElapsedColumn(),
    )
    with user_errors(), Progress(*columns, console=errors, transient=True, disable=as_json) as bar:
        task = bar.add_task("ingest", total=None, rate=0.0)

        def advance(done: int, total: int) -> None:
            elapsed = bar.tasks[0].elapsed or 1e-9
            bar.update(task, completed=done, total=total, rate=done / elapsed)

        report = PaperChat().ingest(paths, progress=advance)
    if as_json:
        emit_json(report.to_dict())
        return
    for skipped in report.skipped:
        errors.print(f"[yellow]skipped[/] {skipped}", highlight=False)
    console.print(report.summary())


def print_hits(hits: list[Hit]) -> None:
    if not hits:
        console.print("[dim]No matching papers.[/]")
        return
    table = Table(show_lines=True)
    for column in ("#", "score", "paper", "evidence"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(hits, 1):
        paper = f"[bold]{hit.title}[/]\n{hit.paper_id}" + (f"\n{hit.url}" if hit.url else "")
        evidence = hit.text if len(hit.text) < 400 else hit.text[:400] + "…"
        table.add_row(str(rank), f"{hit.score:.3f}", paper, evidence)
    console.print(table)


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="Omit to search interactively.")] = None,
    k: Annotated[int | None, typer.Option("-k", help="Papers to return.", min=1, max=100)] = None,
    date_from: Annotated[str, typer.Option("--from", help="Earliest date, YYYY-MM-DD.")] = "",
    date_to: Annotated[str, typer.Option("--to", help="Latest date, YYYY-MM-DD.")] = "",
    author: Annotated[str, typer.Option(help="Part of an author's name.")] = "",
    source: Annotated[str, typer.Option(help="File name the papers came from.")] = "",
    mode: Annotated[str, typer.Option(help="hybrid, dense or keyword.")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="Print hits as JSON.")] = False,
) -> None:
    """Find the papers that best match a query."""
    if mode not in ("hybrid", "dense", "keyword"):
        fail(f"--mode must be hybrid, dense or keyword, not {mode!r}")
    with user_errors():
        filters = Filters(date_from=date_from, date_to=date_to, author=author, source=source)
        chat = PaperChat()

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
        return "offline extractive (the language model failed)"
    return "offline extractive" if answer.answerer == "extractive" else answer.answerer


def print_sources(answer: Answer) -> None:
    if not answer.citations:
        return
    table = Table(show_lines=True, title="Sources")
    for column in ("#", "paper", "supporting sentence"):
        table.add_column(column, overflow="fold")
    for citation in answer.citations:
        paper = f"[bold]{citation.title}[/]" + (f"\n{citation.url}" if citation.url else "")
        table.add_row(str(citation.number), paper, citation.quote)
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
    console.print(f"[dim]answered by {answerer_label(answer)}[/]", highlight=False)
    print_sources(answer)
    return answer


AnswererOption = Annotated[
    str | None, typer.Option("--answerer", help="auto, extractive or llm (default: settings).")
]


def check_answerer(answerer: str | None) -> None:
    if answerer not in (None, "auto", "extractive", "llm"):
        fail(f"--answerer must be auto, extractive or llm, not {answerer!r}")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="A question about the papers.")],
    answerer: AnswererOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Answer as JSON.")] = False,
) -> None:
    """Answer a question from the collection, citing the papers it rests on."""
    check_answerer(answerer)
    with user_errors():
        chat = PaperChat()
        if as_json:
            emit_json(chat.ask(question, answerer=answerer).to_dict())
            return
    stream_answer(chat, question, [], answerer=answerer)


@app.command(name="chat")
def chat_command(answerer: AnswererOption = None) -> None:
    """A conversation in the terminal: follow-up questions understand what came before."""
    check_answerer(answerer)
    with user_errors():
        chat = PaperChat()
    console.print("Ask about the papers. An empty line or Ctrl-D quits.")
    history: list[dict] = []
    while True:
        try:
            question = console.input("[bold cyan]you>[/] ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not question:
            break
        answer = stream_answer(chat, question, history, answerer=answerer)
        history += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer.text},
        ]


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


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind; loopback by default.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 7860,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Allow no login off loopback.")
    ] = False,
) -> None:
    """Serve the chat web UI (http://127.0.0.1:7860 by default)."""
    with user_errors():
        chat = PaperChat()
        secret = chat.settings.auth.get_secret_value() if chat.settings.auth else None
    auth = ui_auth(host, no_auth, secret)
    from ui.app import serve as serve_ui  # gradio loads only for this command

    with user_errors():
        serve_ui(chat, host, port, auth)


@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Papers, chunks, sources and disk use of the collection."""
    with user_errors():
        data = PaperChat().stats()
    if as_json:
        emit_json(data)
        return
    table = Table(show_header=False)
    for key, value in data.items():
        shown = (
            ", ".join(f"{s}: {n}" for s, n in value.items()) if isinstance(value, dict) else value
        )
        table.add_row(key, str(shown))
    console.print(table)


@app.command()
def remove(paper_id: Annotated[str, typer.Argument(help="The paper's id (see search).")]) -> None:
    """Delete one paper from the collection."""
    with user_errors():
        deleted = PaperChat().remove(paper_id)
    if not deleted:
        fail(f"no paper with id {paper_id!r} in the collection", code=1)
    console.print(f"Removed {paper_id} ({deleted} chunks).")


@app.command()
def reset(yes: Annotated[bool, typer.Option("--yes", help="Confirm.")] = False) -> None:
    """Delete every paper in the collection."""
    if not yes:
        fail("this deletes the whole collection; pass --yes to confirm")
    with user_errors():
        PaperChat().reset()
    console.print("The collection is empty.")
