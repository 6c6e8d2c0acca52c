"""What every `paperchat` command shares: the Typer app, the consoles, one-line errors, the
options several commands take, and the `PaperChat` they open."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from rag.api import PaperChat


# Each command imports what it needs when it runs: `paperchat --help` starts at once.
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


def save_export(path: Path, text: str) -> None:
    """Write an export and say so on stderr; an OSError says what went wrong in one line."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OSError(f"cannot write {path}: {exc.strerror or exc}") from exc
    entries = sum(line.startswith("@") for line in text.splitlines())
    what = f" ({entries} entr{'y' if entries == 1 else 'ies'})" if path.suffix == ".bib" else ""
    errors.print(f"wrote {path}{what}", highlight=False)
