"""`paperchat ingest`, `fetch`, `stats`, `remove` and `reset`: what the collection holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rag.cli.common import (
    DatedOption,
    DateFromOption,
    DateToOption,
    app,
    console,
    emit_json,
    errors,
    fail,
    open_chat,
    user_errors,
)


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


@app.command()
def themes(
    date_from: DateFromOption = "",
    date_to: DateToOption = "",
    dated: DatedOption = "published",
    as_json: Annotated[bool, typer.Option("--json", help="Print the themes as JSON.")] = False,
) -> None:
    """The collection's themes (of the papers of a date range): each named by its papers'
    distinctive terms, with its papers."""
    with user_errors():
        found = open_chat().themes(date_from, date_to, dated)
    if as_json:
        emit_json([theme.to_dict() for theme in found])
        return
    if not found:
        console.print(
            "No papers in the collection" + (" for those days." if date_from or date_to else ".")
        )
        return
    total = sum(len(theme.papers) for theme in found)
    console.print(f"{total} papers in {len(found)} themes", highlight=False)
    for number, theme in enumerate(found, 1):
        console.print(f"\n[bold]{number}. {escape(theme.name)}[/] ({len(theme.papers)} papers)")
        for paper in theme.papers:
            day = f"  {paper.date}" if paper.date else ""
            console.print(f"  - {escape(paper.title)}{day}", highlight=False)
