"""Benchmarks: scripts that print figures and assert nothing. Shared helpers live here."""

from __future__ import annotations

import resource
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag import PaperChat, Settings

CACHE_DIR = Path(__file__).resolve().parents[1] / ".paperchat" / "cache"


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def scratch_chat(cache_dir: Path) -> Iterator[PaperChat]:
    """A PaperChat over an empty data directory that is deleted afterwards."""
    with tempfile.TemporaryDirectory() as data_dir:
        yield PaperChat(Settings(data_dir=Path(data_dir), cache_dir=cache_dir))
