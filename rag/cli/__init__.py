"""The `paperchat` command: a thin layer over `rag.PaperChat`, one module per group of
commands, each registered on the one Typer `app`."""

from rag.cli import ask, collection, evaluate, serve  # noqa: F401  (they register their commands)
from rag.cli.common import app

__all__ = ["app"]
