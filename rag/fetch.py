"""Fetch papers from Hugging Face Daily Papers and the arXiv API, keeping every response.

Each day's records are saved as received under `DATA_DIR/fetched/daily_papers/DAY.json`
(the JSON form `paperchat ingest` reads), so a re-run reads them from disk and the collection
can be rebuilt without the network. arXiv responses go to `DATA_DIR/fetched/arxiv/`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from rag.config import Settings
from rag.ingest import IngestReport
from rag.keyword import PaperInfo
from rag.load import Paper, Skipped, arxiv_id, day_number, read_file

log = logging.getLogger(__name__)
DAILY_FOLDER = Path("fetched") / "daily_papers"
ARXIV_FOLDER = Path("fetched") / "arxiv"
SETTLED_DAYS = 2  # a day's page can still grow until this many days after it
ARXIV_BATCH = 50  # ids per arXiv request
RATE_LIMIT_RESET = re.compile(r"\bt=(\d+)")  # RateLimit: "api";r=0;t=55
Progress = Callable[[int, int, str], None]  # (steps done, steps in all, what comes next)


class FetchError(RuntimeError):
    """A download that failed for good: one line that names the day or request. `report`
    is what the fetch did before it (its papers are ingested)."""

    report: FetchReport | None = None


@dataclass
class FetchReport:
    """What a fetch did: days or requests downloaded and reused, papers found, the ingest."""

    downloaded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)  # days read from what was saved before
    papers: int = 0  # distinct papers found
    repeated: int = 0  # papers found again on a later day, stored once
    missing: list[str] = field(default_factory=list)  # arXiv ids arXiv did not return
    skipped: list[Skipped] = field(default_factory=list)
    ingest: IngestReport = field(default_factory=IngestReport)
    error: str = ""  # why the fetch stopped early; what came before it is ingested

    def summary(self) -> str:
        parts = [f"{len(self.downloaded)} downloaded"]
        if self.reused:
            parts.append(f"{len(self.reused)} read from earlier fetches")
        found = f"{self.papers} paper{'s' * (self.papers != 1)}"
        if self.repeated:
            found += f" ({self.repeated} on more than one day, stored once)"
        if self.missing:
            found += f"; not on arXiv: {', '.join(self.missing)}"
        return f"{', '.join(parts)}: {found}. Ingest: {self.ingest.summary()}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "downloaded": self.downloaded,
            "reused": self.reused,
            "papers": self.papers,
            "repeated": self.repeated,
            "missing": self.missing,
            "skipped": [str(s) for s in self.skipped],
            "ingest": self.ingest.to_dict(),
            "error": self.error,
        }


def today() -> date:
    """Today in UTC, the calendar Daily Papers uses."""
    return datetime.now(UTC).date()


def parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{option} must be a date like 2026-10-03, got {text!r}") from None


def days_from(first: date, last: date) -> list[date]:
    """Every day from `first` to `last`, inclusive, but none after today."""
    last = min(last, today())
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def day_range(first: date, last: date, first_name: str, last_name: str) -> list[date]:
    """`days_from(first, last)`, or a ValueError naming the options the days came from when
    `last` is before `first` or every day is after today."""
    if last < first:
        raise ValueError(f"{last_name} ({last}) is before {first_name} ({first})")
    days = days_from(first, last)
    if not days:
        raise ValueError(f"nothing to fetch: those days are after today ({today()})")
    return days


def days_of_week(week: str) -> list[date]:
    """The days of an ISO week, "2026-W40" (Monday to Sunday)."""
    match = re.fullmatch(r"(\d{4})-?W(\d{2})", week.strip())
    try:
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)  # type: ignore[index]
    except (TypeError, ValueError):
        raise ValueError(f"--week must be an ISO week like 2026-W40, got {week!r}") from None
    return day_range(monday, monday + timedelta(days=6), "--week", "--week")


def days_of_month(month: str) -> list[date]:
    """The days of a month, "2026-09"."""
    try:
        first = date.fromisoformat(f"{month.strip()}-01")
    except ValueError:
        raise ValueError(f"--month must be a month like 2026-09, got {month!r}") from None
    following = (first + timedelta(days=31)).replace(day=1)
    return day_range(first, following - timedelta(days=1), "--month", "--month")


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a 429 asks to wait: `Retry-After` (seconds or a date), else the reset
    time of an IETF `RateLimit` header as the Hub sends it; None when neither says."""
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    if value:
        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            pass
    match = RATE_LIMIT_RESET.search(response.headers.get("ratelimit", ""))
    return float(match[1]) if match else None


class Http:
    """GET with bounded retries: a 429 waits as the server asks, a 5xx or timeout backs off;
    no network at all fails at once. Headers (the token) are never logged."""

    def __init__(
        self,
        settings: Settings,
        headers: dict[str, str],
        sleep: Callable[[float], None],
        rate_limit_hint: str = "",
    ) -> None:
        self.settings = settings.fetch
        self.rate_limit_hint = rate_limit_hint  # how to be allowed more, said after a 429
        self.client = httpx.Client(
            headers={"User-Agent": "PaperChat", **headers},
            timeout=self.settings.timeout,
            follow_redirects=True,
        )
        self.sleep = sleep

    def close(self) -> None:
        self.client.close()

    def get(self, url: str, params: dict[str, Any], what: str) -> httpx.Response:
        """The response to a GET; raises FetchError naming `what` when it cannot be had."""
        host = httpx.URL(url).host
        attempts = self.settings.retries + 1
        for attempt in range(attempts):
            backoff = self.settings.backoff * 2**attempt
            try:
                response = self.client.get(url, params=params)
            except httpx.ConnectError as exc:
                raise FetchError(
                    f"{what}: cannot reach {host} ({exc}); is the network up?"
                ) from exc
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                log.warning(
                    "%s: %s from %s; attempt %d of %d", what, problem, host, attempt + 1, attempts
                )
                if attempt + 1 == attempts:
                    raise FetchError(f"{what}: {host} failed {attempts} times ({problem})") from exc
                self.sleep(backoff)
                continue
            status = response.status_code
            if status == 429:
                wait = retry_after(response)
                wait = backoff if wait is None else wait
                if attempt + 1 == attempts or wait > self.settings.max_wait:
                    raise FetchError(
                        f"{what}: {host} is rate-limiting (HTTP 429) and asks to wait"
                        f" {wait:.0f} s; try again later{self.rate_limit_hint}"
                    )
                log.warning("%s: rate-limited by %s; waiting %.1f s", what, host, wait)
                self.sleep(wait)
                continue
            if status >= 500:
                log.warning(
                    "%s: HTTP %d from %s; attempt %d of %d",
                    what,
                    status,
                    host,
                    attempt + 1,
                    attempts,
                )
                if attempt + 1 == attempts:
                    raise FetchError(f"{what}: {host} answered HTTP {status} {attempts} times")
                self.sleep(backoff)
                continue
            if status >= 400:
                detail = " ".join(response.text.split())[:200]
                raise FetchError(f"{what}: {host} answered HTTP {status}: {detail}")
            return response
        raise AssertionError("unreachable")  # every path of the last attempt returns or raises


def record_key(record: Any) -> str:
    """What tells API records apart: the paper id, or for a record without one its text."""
    paper = record.get("paper") if isinstance(record, dict) else None
    paper_id = paper.get("id") if isinstance(paper, dict) else None
    return str(paper_id) if paper_id else json.dumps(record, sort_keys=True)


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


class Fetcher:
    """Downloads Daily Papers days and arXiv papers into the data directory."""

    def __init__(self, settings: Settings, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.daily_folder = settings.data_dir / DAILY_FOLDER
        self.arxiv_folder = settings.data_dir / ARXIV_FOLDER
        self.sleep = sleep

    def http(self, hub: bool) -> Http:
        """A client for the Hub (with HF_TOKEN when set), or for arXiv."""
        if not hub:
            return Http(self.settings, {}, self.sleep)
        secret = self.settings.hf_token
        if secret:
            headers = {"Authorization": f"Bearer {secret.get_secret_value()}"}
            return Http(self.settings, headers, self.sleep)
        return Http(self.settings, {}, self.sleep, " (HF_TOKEN raises the limit)")

    def saved_days(self) -> list[date]:
        days = []
        for path in self.daily_folder.glob("*.json"):
            try:
                days.append(date.fromisoformat(path.stem))
            except ValueError:
                continue
        return sorted(days)

    def since_last(self) -> list[date]:
        """From the day after the last day fetched up to today; that last day again when it
        was fetched before its page was settled; today alone when nothing was fetched
        before (a cron job's first morning)."""
        saved = [day for day in self.saved_days() if day <= today()]
        if not saved:
            return [today()]
        last = saved[-1]
        settled = self.settled(last, self.daily_folder / f"{last}.json")
        return days_from(last + timedelta(days=1) if settled else last, today())

    @staticmethod
    def settled(day: date, path: Path) -> bool:
        """Whether the saved page of `day` was fetched late enough to be final."""
        try:
            fetched = date.fromisoformat(json.loads(path.read_text())["fetched_at"][:10])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return fetched >= day + timedelta(days=SETTLED_DAYS)

    def daily(
        self, days: list[date], refresh: bool, progress: Progress | None = None
    ) -> Iterator[tuple[date, Path, bool]]:
        """Each day's saved file, downloaded first unless a settled copy is there (and not
        `refresh`), with whether it was downloaded."""
        http = self.http(hub=True)
        try:
            for done, day in enumerate(days):
                if progress:
                    progress(done, len(days), str(day))
                path = self.daily_folder / f"{day}.json"
                if path.exists() and not refresh and self.settled(day, path):
                    yield day, path, False
                    continue
                records = self.download_day(http, day)
                saved = {
                    "date": str(day),
                    "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "papers": records,
                }
                write_atomically(path, json.dumps(saved, ensure_ascii=False, indent=1))
                yield day, path, True
            if progress:
                progress(len(days), len(days), "")
        finally:
            http.close()

    def download_day(self, http: Http, day: date) -> list[Any]:
        """Every record of one day, page by page, until a page is short or empty or brings no
        paper not seen (a server that ignores `p` must not loop)."""
        url = f"{self.settings.hf.endpoint.rstrip('/')}/api/daily_papers"
        limit = self.settings.hf.page_size
        records: list[Any] = []
        seen: set[str] = set()
        for page in range(10_000):
            response = http.get(url, {"date": str(day), "limit": limit, "p": page}, str(day))
            try:
                data = response.json()
            except ValueError:
                raise FetchError(
                    f"{day}: the Daily Papers API answered with something not JSON"
                ) from None
            if not isinstance(data, list):
                raise FetchError(
                    f"{day}: the Daily Papers API answered with a {type(data).__name__}, not a list"
                )
            new = {record_key(r): r for r in data if record_key(r) not in seen}
            if data and not new:
                break
            records += new.values()
            seen |= set(new)
            if len(data) < limit:
                break
        return records

    def arxiv(
        self, ids: list[str], progress: Progress | None = None
    ) -> Iterator[tuple[list[str], Path]]:
        """The arXiv API's Atom answer for `ids`, a batch per request, saved; arXiv asks for
        `PAPERCHAT_ARXIV_SPACING` seconds between requests."""
        url = f"{self.settings.arxiv.endpoint.rstrip('/')}/api/query"
        batches = [ids[i : i + ARXIV_BATCH] for i in range(0, len(ids), ARXIV_BATCH)]
        http = self.http(hub=False)
        try:
            for done, batch in enumerate(batches):
                if progress:
                    progress(
                        done, len(batches), ", ".join(batch[:3]) + ("…" if len(batch) > 3 else "")
                    )
                if done:
                    self.sleep(self.settings.arxiv.spacing)
                what = f"arXiv {batch[0]}" + (
                    f" and {len(batch) - 1} more" if len(batch) > 1 else ""
                )
                response = http.get(
                    url, {"id_list": ",".join(batch), "max_results": len(batch)}, what
                )
                stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%S")
                path = self.arxiv_folder / f"{stamp}-{batch[0].replace('/', '_')}.xml"
                write_atomically(path, response.text)
                yield batch, path
            if progress:
                progress(len(batches), len(batches), "")
        finally:
            http.close()


def papers_in(path: Path, report: FetchReport) -> Iterator[Paper]:
    """The papers of a saved response (their source is its file name, as when the folder is
    ingested); records that cannot be used go to the report, named by file and position."""
    for item in read_file(path):
        if isinstance(item, Skipped):
            report.skipped.append(item)
        else:
            yield item


def first_listing(paper: Paper, stored: PaperInfo | None) -> Paper:
    """`paper` as listed on the first Daily Papers day it had: when the collection holds it
    from an earlier day, that day and source are kept."""
    listed, first = day_number(paper.listing.listed), stored.listed_num if stored else 0
    if not first or not listed or first >= listed:
        return paper
    day = f"{first // 10000:04d}-{first // 100 % 100:02d}-{first % 100:02d}"
    return replace(paper, source=stored.source, listing=replace(paper.listing, listed=day))


def check_arxiv_ids(ids: list[str]) -> list[str]:
    """The arXiv ids, versions stripped, in order and once; a ValueError names one that is not."""
    found = []
    for text in ids:
        found_id = arxiv_id(text)
        if not found_id:
            raise ValueError(f"--arxiv: not an arXiv id or URL: {text!r}")
        found.append(found_id)
    return list(dict.fromkeys(found))
