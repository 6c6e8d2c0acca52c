"""`paperchat search`, `ask` and `chat`: questions from the terminal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from rag.answer import Answer
    from rag.api import PaperChat
    from rag.search import Hit

from rag.cli.common import (
    AnswererOption,
    AuthorOption,
    DatedOption,
    DateFromOption,
    DateToOption,
    GgufOption,
    SourceOption,
    app,
    check_answerer,
    console,
    emit_json,
    errors,
    fail,
    filters_of,
    open_chat,
    save_export,
    user_errors,
)


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
    for text in typed_lines("[bold cyan]search>[/] "):
        run(text)


def typed_lines(prompt: str) -> Iterator[str]:
    """The lines typed at `prompt`, until an empty one, Ctrl-D or Ctrl-C."""
    while True:
        try:
            line = console.input(prompt).strip()
        except (EOFError, KeyboardInterrupt):
            return
        if not line:
            return
        yield line


def print_hits(hits: list[Hit]) -> None:
    if not hits:
        console.print("[dim]No matching papers.[/]")
        return
    caption = (
        "Ranked by fused score (hybrid: the fusion model's chance that the paper is one sought,"
        " from its dense, BM25 and best-sentence evidence; dense or keyword alone: reciprocal"
        " rank); similarity is the cosine of query and evidence, comparable across queries."
    )
    table = Table(show_lines=True, caption=caption)
    for column in ("#", "fused", "similarity", "paper", "evidence"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(hits, 1):
        paper = f"[bold]{hit.title}[/]\n{hit.paper_id}" + (f"\n{hit.url}" if hit.url else "")
        evidence = hit.text if len(hit.text) < 400 else hit.text[:400] + "…"
        table.add_row(str(rank), f"{hit.fused:.4f}", f"{hit.score:.3f}", paper, evidence)
    console.print(table)


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


@app.command(name="chat")
def chat_command(answerer: AnswererOption = None, gguf: GgufOption = None) -> None:
    """A conversation in the terminal: follow-up questions understand what came before."""
    check_answerer(answerer)
    with user_errors():
        chat = open_chat(gguf)
    console.print(f"Ask about the papers. {CHAT_COMMANDS}", highlight=False)
    history: list[dict] = []
    answers: list[Answer] = []
    for question in typed_lines("[bold cyan]you>[/] "):
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


def answerer_label(answer: Answer) -> str:
    """Who answered, and how, when it is not a direct answer ("closest match: ...")."""
    from rag.answer import OUTCOME_LABELS

    if answer.fell_back:
        label = "offline extractive (in place of the language model)"
    else:
        label = "offline extractive" if answer.answerer == "extractive" else answer.answerer
    outcome = OUTCOME_LABELS.get(answer.outcome)
    return f"{label} · {outcome}" if outcome else label


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
