"""Citation checks: keep only `[n]` that name a source, renumber them by first appearance.

`CitationFilter` works on a stream of text pieces, so what is streamed to the user is already
checked: an invented `[9]` never reaches the screen, even for a moment.
"""

from __future__ import annotations

import logging
import re

log = logging.getLogger(__name__)
CITATION = re.compile(r"(\s*)\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
UNFINISHED = re.compile(r"\s*(?:\[[\d,\s]{0,24})?$")  # a tail that may still become a citation


class CitationFilter:
    """Rewrites `[n]` (source numbers) into `[m]` (numbers in order of first citation)."""

    def __init__(self, valid: set[int]) -> None:
        self.valid = valid
        self.numbers: dict[int, int] = {}  # source number -> display number
        self.dropped: list[int] = []
        self._pending = ""

    def _replace(self, match: re.Match) -> str:
        sources = [int(n) for n in match.group(2).split(",")]
        kept = []
        for source in sources:
            if source not in self.valid:
                self.dropped.append(source)
                log.warning("removed citation [%d]: there is no source %d", source, source)
                continue
            display = self.numbers.setdefault(source, len(self.numbers) + 1)
            if display not in kept:
                kept.append(display)
        if not kept:
            return ""
        return match.group(1) + "".join(f"[{n}]" for n in kept)

    def feed(self, piece: str) -> str:
        """The part of the text so far that can be shown; the rest waits for the next piece."""
        text = self._pending + piece
        hold = UNFINISHED.search(text).start()
        ready, self._pending = text[:hold], text[hold:]
        return CITATION.sub(self._replace, ready)

    def finish(self) -> str:
        text, self._pending = self._pending, ""
        return CITATION.sub(self._replace, text)

    def apply(self, text: str) -> str:
        return self.feed(text) + self.finish()
