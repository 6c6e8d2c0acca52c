"""Fetching Daily Papers and arXiv papers over real HTTP from a local server (tests/fake_hf.py)."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta

import httpx
import pytest
from conftest import HF_JSON, free_port
from fake_hf import DAY1, DAY2, DAY3, FakeHub

from rag.api import PaperChat
from rag.fetch import (
    Fetcher,
    FetchError,
    days_of_month,
    days_of_week,
    retry_after,
    today,
)
from rag.schedule import DailyFetch, clock_time
from rag.search import Filters

DAYS = [date.fromisoformat(d) for d in (DAY1, DAY2, DAY3)]


@pytest.fixture
def hub():
    with FakeHub(HF_JSON) as server:
        yield server


@pytest.fixture
def fetching(make_settings, hub):
    """A PaperChat that fetches from the local hub in pages of 8, retrying quickly."""

    def make(**fetch) -> PaperChat:
        settings = make_settings()
        settings.hf = settings.hf.model_copy(update={"endpoint": hub.url, "page_size": 8})
        settings.arxiv = settings.arxiv.model_copy(update={"endpoint": hub.url, "spacing": 0})
        settings.fetch = settings.fetch.model_copy(update={"backoff": 0.01, **fetch})
        return PaperChat(settings)

    return make


def test_days_are_fetched_in_pages_ingested_once_and_survive_a_429_and_a_500(fetching, hub):
    chat = fetching()
    hub.faults[DAY2] = [429]
    hub.faults[DAY3] = [500]
    report = chat.fetch_daily(DAYS)

    assert report.downloaded == [DAY1, DAY2, DAY3] and not report.reused
    assert report.papers == 50 and report.repeated == 1  # one paper is on DAY1 and DAY2
    assert len(report.ingest.added) == 50 and len(chat.papers()) == 50
    assert len(hub.daily_requests(DAY1)) == 3  # 20 papers in pages of 8: 8, 8, 4
    assert len(hub.daily_requests(DAY2)) == 1 + 3  # the 429, then 19 records in 3 pages
    assert len(hub.daily_requests(DAY3)) == 1 + 2  # the 500, then 14 records in 2 pages
    assert {r["query"]["limit"] for r in hub.daily_requests()} == {"8"}
    skipped = [str(s) for s in report.skipped]
    assert skipped == [
        "2026-10-02.json, record 10: withdrawn from arXiv (2026-10-02)",
        "2026-10-02.json, record 13: missing abstract",
    ]
    saved = json.loads(
        (chat.settings.data_dir / "fetched/daily_papers/2026-10-02.json").read_text()
    )
    assert saved["date"] == DAY2 and saved["papers"] == hub.days[DAY2]  # as received


def test_a_rerun_reads_what_it_saved_and_adds_nothing_unless_refreshed(fetching, hub):
    chat = fetching()
    chat.fetch_daily(DAYS)
    asked = len(hub.requests)
    again = chat.fetch_daily(DAYS)
    assert again.reused == [DAY1, DAY2, DAY3] and not again.downloaded
    assert len(hub.requests) == asked
    assert not again.ingest.added and len(again.ingest.unchanged) == 50

    hub.days[DAY1][0]["paper"]["upvotes"] = 1234  # the page changed since
    refreshed = chat.fetch_daily(DAYS[:1], refresh=True)
    assert refreshed.downloaded == [DAY1] and len(hub.requests) == asked + 3
    assert refreshed.ingest.updated == [hub.days[DAY1][0]["paper"]["id"]]


def test_hits_carry_the_listing_and_dates_filter_by_either_date(fetching, hub):
    chat = fetching()
    chat.fetch_daily(DAYS)
    record = hub.days[DAY3][2]
    hit = chat.search(record["paper"]["title"], k=1)[0]
    assert hit.paper_id == record["paper"]["id"]
    assert hit.date == record["paper"]["publishedAt"][:10]  # the arXiv date
    assert hit.listing.listed == DAY3
    assert hit.listing.upvotes == record["paper"]["upvotes"]
    assert hit.listing.comments == record["numComments"]
    assert list(hit.listing.keywords) == record["paper"]["ai_keywords"]
    assert hit.listing.github == (record["paper"]["githubRepo"] or "")

    on_day2 = Filters(date_from=DAY2, date_to=DAY2, dated="listed")
    found = chat.search("language models", k=50, filters=on_day2)
    assert found and {h.listing.listed for h in found} == {DAY2}
    day2_ids = {r["paper"]["id"] for r in hub.days[DAY2]}
    assert {h.paper_id for h in found} <= day2_ids


def test_a_paper_stays_with_its_first_day_whatever_order_days_are_fetched_in(fetching, hub):
    chat = fetching()
    again = hub.days[DAY2][5]["paper"]  # listed on DAY1 and DAY2
    assert again["id"] in {r["paper"]["id"] for r in hub.days[DAY1]}
    chat.fetch_daily([DAY2])
    assert chat.search(again["title"], k=1)[0].listing.listed == DAY2
    first = chat.fetch_daily([DAY1, DAY3])  # an earlier day: it moves there
    assert again["id"] in first.ingest.updated
    later = chat.fetch_daily([DAY2], refresh=True)  # the later day again: it stays
    assert again["id"] in later.ingest.unchanged and not later.ingest.updated
    hit = chat.search(again["title"], k=1)[0]
    assert hit.listing.listed == DAY1 and hit.source == "2026-10-01.json"
    assert chat.fetch_daily(["2026-10-01"]).reused == [DAY1]  # days as text too


def test_a_server_that_ignores_paging_does_not_loop(fetching, hub):
    chat = fetching()
    hub.ignore_paging.add(DAY1)
    report = chat.fetch_daily(DAYS[:1])
    assert len(hub.daily_requests(DAY1)) == 2  # the second page brought nothing new
    assert report.papers == 8
    nameless = "2026-09-30"  # a full page of records without ids, again and again
    hub.days[nameless] = [{"paper": {"title": f"Untitled {n}"}} for n in range(8)]
    hub.ignore_paging.add(nameless)
    report = chat.fetch_daily([nameless])
    assert len(hub.daily_requests(nameless)) == 2 and len(report.skipped) == 8


def test_a_day_that_keeps_failing_stops_the_fetch_and_keeps_what_came_before(fetching, hub):
    chat = fetching(retries=2)
    hub.faults[DAY2] = [500] * 10
    with pytest.raises(FetchError) as failure:
        chat.fetch_daily(DAYS)
    assert str(failure.value) == f"{DAY2}: 127.0.0.1 answered HTTP 500 3 times"
    report = failure.value.report
    assert report.downloaded == [DAY1] and len(report.ingest.added) == 20
    assert len(chat.papers()) == 20
    assert not hub.daily_requests(DAY3)


def test_a_429_that_asks_too_long_a_wait_fails_at_once(fetching, hub):
    chat = fetching(max_wait=0.5)
    hub.faults[DAY1] = [429]
    with pytest.raises(FetchError, match=r"^2026-10-01: .*HTTP 429.* wait 1 s.*HF_TOKEN"):
        chat.fetch_daily(DAYS[:1])
    assert len(hub.daily_requests(DAY1)) == 1


def test_no_network_fails_at_once_naming_the_day(make_settings):
    settings = make_settings()
    settings.hf = settings.hf.model_copy(update={"endpoint": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(FetchError, match=r"^2026-10-01: cannot reach 127.0.0.1 .*network"):
        PaperChat(settings).fetch_daily(DAYS)


def test_arxiv_ids_are_fetched_with_arxivs_spacing_and_missing_ones_named(make_settings, hub):
    settings = make_settings()
    settings.arxiv = settings.arxiv.model_copy(update={"endpoint": hub.url})
    slept: list[float] = []
    fetcher = Fetcher(settings, sleep=slept.append)
    wanted = [p.paper_id for p in hub.papers[:3]]
    batches = list(fetcher.arxiv(wanted))
    assert slept == [] and len(batches) == 1  # one request for a few ids
    assert hub.requests[-1]["query"]["id_list"] == ",".join(wanted)

    import rag.fetch

    rag.fetch.ARXIV_BATCH, saved = 1, rag.fetch.ARXIV_BATCH
    try:
        list(fetcher.arxiv(wanted))
    finally:
        rag.fetch.ARXIV_BATCH = saved
    assert slept == [3.0, 3.0]  # between the three requests, none before the first

    chat = PaperChat(settings)
    report = chat.fetch_arxiv([f"https://arxiv.org/abs/{wanted[0]}v3", wanted[1], "2601.00001"])
    assert report.papers == 2 and report.missing == ["2601.00001"]
    assert sorted(report.ingest.added) == sorted(wanted[:2])
    assert {p["source"] for p in chat.papers()} == {report.downloaded[0]}
    with pytest.raises(ValueError, match="not an arXiv id"):
        chat.fetch_arxiv(["not-an-id"])


def test_since_last_starts_after_the_last_settled_day(make_settings):
    settings = make_settings()
    fetcher = Fetcher(settings)
    assert fetcher.since_last() == [today()]  # a cron job's first morning
    folder = settings.data_dir / "fetched/daily_papers"
    folder.mkdir(parents=True)
    last = today() - timedelta(days=5)
    (folder / f"{last}.json").write_text(
        json.dumps({"fetched_at": f"{today()}T00:00:00", "papers": []})
    )
    assert fetcher.since_last() == [last + timedelta(days=n) for n in range(1, 6)]
    future = today() + timedelta(days=30)  # a mistyped day saved nothing that counts
    (folder / f"{future}.json").write_text(json.dumps({"fetched_at": f"{today()}", "papers": []}))
    assert fetcher.since_last() == [last + timedelta(days=n) for n in range(1, 6)]
    recent = today() - timedelta(days=1)  # fetched the day after: its page may still grow
    (folder / f"{recent}.json").write_text(
        json.dumps({"fetched_at": f"{today()}T00:00:00", "papers": []})
    )
    assert fetcher.since_last() == [recent, today()]


def test_ranges_and_waits():
    assert days_of_week("2026-W40") == [date(2026, 9, 28) + timedelta(days=n) for n in range(7)]
    assert len(days_of_month("2026-02")) == 28 and days_of_month("2026-09")[-1] == date(2026, 9, 30)
    assert days_of_month(f"{today():%Y-%m}")[-1] == today()  # never after today
    for bad in ("2026-40", "2026-W54"):
        with pytest.raises(ValueError, match="--week"):
            days_of_week(bad)
    with pytest.raises(ValueError, match="--month"):
        days_of_month("2026-13")

    def response(**headers: str) -> httpx.Response:
        return httpx.Response(429, headers=headers)

    assert retry_after(response(**{"Retry-After": "7"})) == 7
    assert retry_after(response(**{"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"})) > 100
    assert retry_after(response(RateLimit='"api";r=0;t=55')) == 55
    assert retry_after(response()) is None


@pytest.mark.slow
def test_fetch_cli_uses_the_token_without_showing_it_and_a_rerun_adds_nothing(run, hub):
    env = {
        "PAPERCHAT_HF_ENDPOINT": hub.url,
        "PAPERCHAT_HF_PAGE_SIZE": "8",
        "HF_TOKEN": "hf_SeCrEt123",
    }
    hub.faults[DAY2] = [429]
    first = run("-v", "fetch", "--from", DAY1, "--to", DAY3, **env)
    assert first.returncode == 0, first.stderr
    assert "3 downloaded: 50 papers (1 on more than one day, stored once)" in first.stdout
    assert "50 added" in first.stdout
    assert "withdrawn from arXiv" in first.stderr and "record 13: missing abstract" in first.stderr
    assert "hf_SeCrEt123" not in first.stdout + first.stderr
    assert {r["headers"].get("Authorization") for r in hub.daily_requests()} == {
        "Bearer hf_SeCrEt123"
    }

    again = run("fetch", "--week", "2026-W40", **env)  # Sep 28 - Oct 4 holds the three days
    assert again.returncode == 0, again.stderr
    assert "0 added" in again.stdout and "50 unchanged" in again.stdout

    nowhere = run(
        "fetch",
        "--date",
        DAY1,
        "--refresh",
        PAPERCHAT_HF_ENDPOINT=f"http://127.0.0.1:{free_port()}",
    )
    assert nowhere.returncode == 2
    assert nowhere.stderr.strip().startswith("error: 2026-10-01: cannot reach 127.0.0.1")
    assert len(nowhere.stderr.strip().splitlines()) == 1 and not nowhere.stdout

    for args, message in (
        ((), "say what to fetch"),
        (("--date", DAY1, "--week", "2026-W40"), "got --date and --week"),
        (("--date", "yesterday"), "--date must be a date like 2026-10-03"),
        (("--from", DAY3, "--to", DAY1), "is before --from"),
        (("--arxiv",), "--arxiv needs at least one arXiv id"),
        (("--date", "2099-01-01"), "nothing to fetch: those days are after today"),
        (("2310.02743",), "arXiv ids go after --arxiv"),
    ):
        bad = run("fetch", *args, **env)
        assert bad.returncode == 2 and message in bad.stderr, (args, bad.stderr)


@pytest.mark.slow
def test_answers_about_fetched_papers_export_bibtex_and_markdown(run, hub, tmp_path):
    env = {"PAPERCHAT_HF_ENDPOINT": hub.url}
    assert run("fetch", "--date", DAY1, **env).returncode == 0
    jev = hub.days[DAY1][0]["paper"]

    hits = json.loads(run("search", jev["title"], "-k", "1", "--json").stdout)
    assert hits[0]["listing"]["listed"] == DAY1
    assert hits[0]["listing"]["keywords"] == jev["ai_keywords"]

    question = "How much does Jev reduce median decision latency?"
    asked = run("ask", question, "--bibtex", "refs.bib", "--markdown", "answer.md")
    assert asked.returncode == 0, asked.stderr
    assert "wrote refs.bib (1 entry)" in asked.stderr and "wrote answer.md" in asked.stderr
    assert f"Daily Papers {DAY1}" in asked.stdout  # the sources table shows the listing
    references = (tmp_path / "refs.bib").read_text()
    assert f"eprint = {{{jev['id']}}}" in references and "archivePrefix = {arXiv}" in references
    answer = (tmp_path / "answer.md").read_text()
    assert answer.startswith(f"# {question}") and "22.7-64.5%" in answer
    assert f"arXiv:{jev['id']}" in answer

    nowhere = run("ask", question, "--bibtex", "missing/refs.bib")
    assert nowhere.returncode == 2
    assert nowhere.stderr.strip().endswith(
        "cannot write missing/refs.bib: No such file or directory"
    )

    chat = run(
        "chat",
        stdin=f"/export\n/exprot x.md\n{question}\n/export talk.md\n/export papers.bib\n"
        "/export no/dir.md\n/quit\nnever asked\n",
    )
    assert chat.returncode == 0, chat.stderr
    assert "/export needs a file" in chat.stderr and "cannot write no/dir.md" in chat.stderr
    assert "/exprot is not a command" in chat.stderr and not (tmp_path / "x.md").exists()
    assert chat.stdout.count("answered by") == 1  # /quit quit
    assert question in (tmp_path / "talk.md").read_text()
    assert (tmp_path / "papers.bib").read_text() == references


def test_the_server_s_daily_fetch_continues_from_the_last_day_and_says_when_next(fetching, hub):
    chat = fetching()
    chat.fetch_daily([DAY1])
    asked = len(hub.daily_requests(DAY1))
    now = 1_790_000_000.0
    seen: list[str] = []
    daily = DailyFetch(chat, hours=6, report=seen.append, clock=lambda: now)
    assert daily.describe().endswith(f"next at {clock_time(now)}.")
    daily.start()
    deadline = time.monotonic() + 60
    while not seen and time.monotonic() < deadline:
        time.sleep(0.1)
    daily.stop()
    assert seen == [f"Daily Papers {DAY2} to {today()}: {seen[0].split(': ', 1)[1]}"]
    assert "30 added" in seen[0]  # the 50 papers less DAY1's 20
    assert len(chat.papers()) == 50
    assert len(hub.daily_requests(DAY1)) == asked  # a settled day is not asked again
    assert daily.describe() == (
        f"Daily Papers are fetched every 6 h; next at {clock_time(now + 6 * 3600)}."
        f" Last: {seen[0]}."
    )


def test_a_daily_fetch_that_fails_says_why_and_the_next_one_runs(make_settings):
    settings = make_settings()
    settings.hf = settings.hf.model_copy(update={"endpoint": f"http://127.0.0.1:{free_port()}"})
    daily = DailyFetch(PaperChat(settings), hours=1)
    assert daily.run_once().startswith(f"Daily Papers {today()}: failed (")
    assert "cannot reach" in daily.run_once()


def test_a_daily_fetch_round_that_raises_is_reported_and_the_schedule_goes_on(make_settings):
    class Failing(PaperChat):
        def days_since_last_fetch(self):
            raise RuntimeError("the disk went away")

    seen: list[str] = []
    daily = DailyFetch(Failing(make_settings()), hours=0.0001, report=seen.append).start()
    deadline = time.monotonic() + 30
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    daily.stop()
    assert seen[:2] == ["Daily Papers: failed (the disk went away)"] * 2
