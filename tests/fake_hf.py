"""A local server that answers like the Hugging Face Daily Papers API and the arXiv API.

Its records are built from the HF file in the repo (data/hf_daily_papers_2026-10-03.json) in
the API's shape: `{"paper": {...}, "publishedAt", "numComments", ...}`. Three days hold them:
DAY1 and DAY3 plain, DAY2 with a paper of DAY1 again, a withdrawn paper and a malformed
record. Faults are scripted per day (`faults`), and every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

from fake_openai import QuietServer

from rag.load import Paper, load_file

DAY1, DAY2, DAY3 = "2026-10-01", "2026-10-02", "2026-10-03"


def api_record(paper: Paper, day: str, number: int) -> dict:
    """A Daily Papers API record of `paper`, listed on `day`."""
    keywords = [w for w in paper.title.replace(":", " ").split() if len(w) > 6][:3]
    return {
        "paper": {
            "id": paper.paper_id,
            "authors": [
                {"_id": f"a{n}", "name": name, "hidden": False}
                for n, name in enumerate(paper.authors)
            ],
            "publishedAt": f"{paper.date}T17:59:00.000Z",
            "title": paper.title,
            "summary": paper.abstract,
            "upvotes": paper.listing.upvotes if paper.listing.upvotes is not None else number,
            "discussionId": f"d{number}",
            "githubRepo": paper.listing.github or None,
            "projectPage": f"https://example.org/{paper.paper_id}" if number % 3 == 0 else None,
            "ai_summary": paper.abstract.split(". ")[0],
            "ai_keywords": keywords,
        },
        "publishedAt": f"{day}T13:00:00.000Z",
        "title": paper.title,
        "summary": paper.abstract,
        "thumbnail": f"https://cdn.example.org/{paper.paper_id}.png",
        "numComments": number % 4,
        "submittedBy": {"name": "someone"},
        "isAuthorParticipating": False,
    }


def recorded_days(hf_file) -> tuple[dict[str, list[dict]], list[Paper]]:
    """The three days' records, and the papers in order (50 of them)."""
    papers = load_file(hf_file).papers
    days = {
        DAY1: [api_record(p, DAY1, n) for n, p in enumerate(papers[:20])],
        DAY2: [api_record(p, DAY2, n) for n, p in enumerate(papers[20:36], 20)],
        DAY3: [api_record(p, DAY3, n) for n, p in enumerate(papers[36:], 36)],
    }
    days[DAY2].insert(5, api_record(papers[3], DAY2, 3))  # on DAY1 already
    withdrawn = api_record(papers[0], DAY2, 99)
    withdrawn["paper"].update(
        id="2609.99999", title="A Withdrawn Paper", withdrawnAt="2026-10-02T09:00:00.000Z"
    )
    days[DAY2].insert(9, withdrawn)
    days[DAY2].insert(
        12, {"paper": {"id": "2609.88888", "title": "No Abstract Here"}, "publishedAt": DAY2}
    )
    return days, papers


def atom_feed(papers: list[Paper]) -> str:
    entries = "".join(
        f"<entry><id>http://arxiv.org/abs/{p.paper_id}v2</id>"
        f"<published>{p.date}T00:00:00Z</published>"
        f"<title>{escape(p.title)}</title><summary>{escape(p.abstract)}</summary>"
        + "".join(f"<author><name>{escape(a)}</name></author>" for a in p.authors)
        + f'<link href="http://arxiv.org/abs/{p.paper_id}v2" rel="alternate"/></entry>'
        for p in papers
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>arXiv Query</title>{entries}</feed>"
    )


class FakeHub:
    """`faults[day]` is a list of what the next requests for that day get: 429 (with
    `Retry-After: 1`), 500, or "ignore_p" (every later page is the first page)."""

    def __init__(self, hf_file) -> None:
        self.days, self.papers = recorded_days(hf_file)
        self.faults: dict[str, list] = defaultdict(list)
        self.ignore_paging: set[str] = set()
        self.requests: list[dict] = []  # path, query and headers of each request
        self.times: list[float] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                hub.requests.append(
                    {"path": url.path, "query": query, "headers": dict(self.headers)}
                )
                hub.times.append(time.monotonic())
                if url.path == "/api/daily_papers":
                    self.daily(query)
                elif url.path == "/api/query":
                    wanted = query.get("id_list", "").split(",")
                    found = [p for p in hub.papers if p.paper_id in wanted]
                    self.send(200, atom_feed(found).encode(), "application/atom+xml")
                else:
                    self.send(404, b'{"error": "not found"}')

            def daily(self, query: dict) -> None:
                day = query.get("date", "")
                faults = hub.faults[day]
                if faults:
                    fault = faults.pop(0)
                    if fault == 429:
                        self.send(429, b'{"error": "rate limited"}', headers={"Retry-After": "1"})
                        return
                    self.send(int(fault), b"<html>Internal Server Error</html>", "text/html")
                    return
                limit, page = int(query.get("limit", 50)), int(query.get("p", 0))
                if day in hub.ignore_paging:
                    page = 0
                records = hub.days.get(day, [])[page * limit : (page + 1) * limit]
                self.send(200, json.dumps(records).encode())

            def send(
                self, status: int, body: bytes, kind: str = "application/json", headers=None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def daily_requests(self, day: str | None = None) -> list[dict]:
        return [
            r
            for r in self.requests
            if r["path"] == "/api/daily_papers" and (day is None or r["query"]["date"] == day)
        ]

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
