"""Keeping a served collection current: Daily Papers fetched at start and every N hours.

For a user who runs only `paperchat serve --fetch-daily` (no cron job). Each round fetches
the days since the last one fetched (today alone the first time), as `paperchat fetch
--since-last` does, in a background thread; a failure is reported and the next round
tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from rag.api import PaperChat
from rag.fetch import FetchError
from rag.store import StoreUnavailable

log = logging.getLogger(__name__)


def clock_time(seconds: float) -> str:
    """A moment as a person reads it, in UTC, the calendar Daily Papers uses."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


class DailyFetch:
    """Fetches Daily Papers into `chat` now and every `hours`, until `stop()`."""

    def __init__(
        self,
        chat: PaperChat,
        hours: float,
        report: Callable[[str], None] = log.warning,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.chat, self.period, self.report, self.clock = chat, hours * 3600, report, clock
        self.next_at = clock()
        self.last = ""  # what the last round did, in one line
        self.running = False
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="daily-fetch", daemon=True)

    def start(self) -> DailyFetch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    def run_once(self) -> str:
        """One round: the days since the last fetched one (today, the first time); what it
        did, in one line."""
        days = self.chat.days_since_last_fetch()
        span = str(days[0]) if len(days) == 1 else f"{days[0]} to {days[-1]}"
        try:
            report = self.chat.fetch_daily(days)
        except (FetchError, StoreUnavailable) as exc:
            return f"Daily Papers {span}: failed ({exc})"
        return f"Daily Papers {span}: {report.ingest.summary()}"

    def _run(self) -> None:
        while not self._stopped.is_set():
            self.running = True
            try:
                self.last = self.run_once()
            except Exception as exc:  # the schedule outlives any one round: say so, go on
                log.exception("Daily Papers fetch failed")
                self.last = f"Daily Papers: failed ({exc})"
            self.running = False
            self.report(self.last)
            self.next_at = self.clock() + self.period
            self._stopped.wait(self.period)

    def describe(self) -> str:
        """For the welcome: when the next fetch is, and what the last one did."""
        line = f"Daily Papers are fetched every {self.period / 3600:g} h"
        line += ": now." if self.running else f"; next at {clock_time(self.next_at)}."
        return f"{line} Last: {self.last}." if self.last else line
