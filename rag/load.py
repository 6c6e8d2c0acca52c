"""Load paper collections: Daily Papers page text, HF JSON, JSONL, CSV and arXiv Atom.

Each loader yields papers and, for every record it cannot use, a `Skipped` that names the
file and the line or record, so one bad record never stops the rest of the file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from dataclasses import astuple, dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

ARXIV_NEW = re.compile(r"(?<![\d.])(\d{4}\.\d{4,5})(?:v\d+)?(?![\d])")
ARXIV_OLD = re.compile(r"\b([a-z][a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?\b")
HEADER_DATE = re.compile(r"^(?:[A-Z][a-z]{2,8}) \d{1,2}(?:, (\d{4}))?$")
ATOM = "{http://www.w3.org/2005/Atom}"
MAX_TITLE_CHARS = 300
MAX_RECORD_BYTES = 1_000_000  # a JSONL line longer than this is skipped unread
MAX_KEYWORDS = 20


class LoadError(ValueError):
    """A path that cannot be read as a collection at all."""


@dataclass(frozen=True)
class Listing:
    """What Hugging Face Daily Papers says of a paper besides its text; empty elsewhere."""

    listed: str = ""  # ISO day the paper entered Daily Papers (its `date` is arXiv's)
    upvotes: int | None = None
    comments: int | None = None
    github: str = ""
    project_page: str = ""
    keywords: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "listed", parse_date(self.listed))
        object.__setattr__(self, "upvotes", count_or_none(self.upvotes))
        object.__setattr__(self, "comments", count_or_none(self.comments))
        object.__setattr__(self, "github", web_link(self.github))
        object.__setattr__(self, "project_page", web_link(self.project_page))
        keywords = tuple(dict.fromkeys(k for k in map(squash, self.keywords or ()) if k))
        object.__setattr__(self, "keywords", keywords[:MAX_KEYWORDS])

    def __bool__(self) -> bool:
        return self != Listing()

    def to_metadata(self) -> dict[str, str | int]:
        """Chroma metadata (str and int values only; unknown counts are left out)."""
        metadata = {
            "listed": self.listed,
            "listed_num": day_number(self.listed),
            "github": self.github,
            "project_page": self.project_page,
            "keywords": "; ".join(self.keywords),
            "upvotes": self.upvotes,
            "comments": self.comments,
        }
        return {k: v for k, v in metadata.items() if v is not None}

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> Listing:
        return cls(
            listed=str(metadata.get("listed") or ""),
            upvotes=metadata.get("upvotes"),
            comments=metadata.get("comments"),
            github=str(metadata.get("github") or ""),
            project_page=str(metadata.get("project_page") or ""),
            keywords=tuple(k for k in str(metadata.get("keywords") or "").split("; ") if k),
        )


@dataclass(frozen=True)
class Paper:
    """One paper. `paper_id` defaults to the arXiv id, else a hash of the normalized title."""

    title: str
    abstract: str
    paper_id: str = ""
    url: str = ""
    authors: tuple[str, ...] = ()
    date: str = ""  # ISO YYYY-MM-DD (for arXiv papers their arXiv date), or "" when unknown
    source: str = ""
    listing: Listing = field(default_factory=Listing)

    def __post_init__(self) -> None:
        title, abstract = squash(self.title), squash(self.abstract)
        if not title:
            raise ValueError("missing title")
        if not abstract:
            raise ValueError("missing abstract")
        if len(title) > MAX_TITLE_CHARS:
            raise ValueError(f"title longer than {MAX_TITLE_CHARS} characters")
        object.__setattr__(self, "title", title)
        object.__setattr__(self, "abstract", abstract)
        object.__setattr__(self, "authors", tuple(a for a in map(squash, self.authors) if a))
        object.__setattr__(self, "date", parse_date(self.date))
        given_id = squash(self.paper_id)
        arxiv = arxiv_id(given_id) or arxiv_id(self.url)
        object.__setattr__(self, "paper_id", arxiv or given_id or title_hash(title))
        url = squash(self.url) or (f"https://arxiv.org/abs/{arxiv}" if arxiv else "")
        object.__setattr__(self, "url", url)

    @property
    def content_hash(self) -> str:
        """Changes whenever anything indexed about the paper changes (not its source file)."""
        parts = [self.title, self.abstract, self.url, "; ".join(self.authors), self.date]
        if self.listing:  # papers without one keep the hash they had before listings
            parts.append(repr(astuple(self.listing)))
        return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Skipped:
    """A record or file that was not ingested, and why."""

    source: str
    location: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}, {self.location}: {self.reason}"


@dataclass
class Collection:
    """What a file held: the usable papers, and the records that were skipped."""

    papers: list[Paper] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


Record = tuple[str, Paper | str]  # (location, the paper or why there is none)


def squash(text: Any) -> str:
    return " ".join(str(text or "").split())


def count_or_none(value: Any) -> int | None:
    """A non-negative whole number (from JSON or a CSV cell), or None for anything else."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return int(value) if float(value).is_integer() else None
    return None


def web_link(value: Any) -> str:
    """An http(s) URL, or "" for anything else (a card must never link `javascript:`)."""
    text = squash(value)
    return text if re.match(r"https?://[^\s/]+", text, re.IGNORECASE) else ""


def normalize_title(title: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", title.casefold()).split())


def title_hash(title: str) -> str:
    return hashlib.sha1(normalize_title(title).encode()).hexdigest()[:12]


def arxiv_id(text: str) -> str:
    """The arXiv id of a bare id or an arXiv URL (version stripped); "" when there is none."""
    text = text.strip()
    match = ARXIV_NEW.fullmatch(text) or ARXIV_OLD.fullmatch(text)
    if not match and "arxiv.org" in text.lower():
        match = ARXIV_NEW.search(text) or ARXIV_OLD.search(text)
    return match.group(1) if match else ""


def parse_date(value: Any) -> str:
    """ISO date from a date, datetime or ISO-like string; "" when unknown or unparseable."""
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    text = squash(value)
    try:
        return date.fromisoformat(text[:10]).isoformat() if text else ""
    except ValueError:
        return ""


def day_number(day: str) -> int:
    """An ISO date as the number YYYYMMDD (what Chroma filters compare); 0 for ""."""
    return int(day.replace("-", "")) if day else 0


def parse_header_date(text: str) -> str:
    """ "Aug 7, 2023" or "August 7, 2023" as an ISO date."""
    for pattern in ("%b %d, %Y", "%B %d, %Y"):
        try:
            return datetime.strptime(text, pattern).date().isoformat()
        except ValueError:
            continue
    return ""


def split_list(value: Any) -> tuple[str, ...]:
    """The items of a ';'-separated string, or ','-separated when it has no ';'."""
    text = squash(value)
    return tuple(text.split(";") if ";" in text else text.split(",")) if text else ()


def split_authors(value: Any) -> tuple[str, ...]:
    """Authors from a list of names or {"name": ...} objects, or a ';'/','-separated string."""
    if isinstance(value, list):
        return tuple(squash(a.get("name") if isinstance(a, dict) else a) for a in value)
    return split_list(value)


def find_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """The supported files at or under `paths` (directories are walked), checked up front,
    and the files of other types found in the walked directories."""
    files: list[Path] = []
    ignored: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file())
            found = [p for p in inside if p.suffix.lower() in LOADERS]
            if not found:
                raise LoadError(f"{path}: no collection files ({', '.join(LOADERS)}) inside")
            files.extend(found)
            ignored.extend(p for p in inside if p.suffix.lower() not in LOADERS)
        elif path.is_file():
            if path.suffix.lower() not in LOADERS:
                raise LoadError(
                    f"{path}: unsupported file type {path.suffix or '(none)'};"
                    f" use one of {', '.join(LOADERS)}"
                )
            files.append(path)
        else:
            raise LoadError(f"{path}: no such file or directory")
    return files, ignored


def read_file(path: Path) -> Iterator[Paper | Skipped]:
    """Parse one file by its extension, record by record: papers, and a `Skipped` for each
    record (or the whole file) that cannot be used. JSONL streams, so its size is unbounded."""
    source = path.name
    try:
        for location, record in LOADERS[path.suffix.lower()](path):
            if isinstance(record, str):
                yield Skipped(source, location, record)
                continue
            try:
                yield replace(record, source=source)
            except ValueError as exc:
                yield Skipped(source, location, str(exc))
    except OSError as exc:
        yield Skipped(source, "file", f"cannot read: {exc.strerror or exc}")


def load_file(path: Path) -> Collection:
    """All of one file at once (see `read_file`)."""
    collection = Collection()
    for item in read_file(path):
        (collection.skipped if isinstance(item, Skipped) else collection.papers).append(item)
    return collection


def whole_text(reader: Callable[[str], Iterator[Record]]) -> Callable[[Path], Iterator[Record]]:
    """A reader of a file's whole text, which must be UTF-8."""

    def read(path: Path) -> Iterator[Record]:
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            yield f"line {line}", "not valid UTF-8 text"
            return
        yield from reader(text)

    read.__doc__ = reader.__doc__
    return read


def make_paper(fields: dict[str, Any], listed: str = "") -> Paper | str:
    """A Paper from loosely named fields, or the reason it cannot be made. `listed` is the
    Daily Papers day of a file that gives it once for all its records."""
    if not isinstance(fields, dict):
        return f"expected an object, got {type(fields).__name__}"
    if isinstance(fields.get("paper"), dict):  # the HF API's {"paper": {...}, ...} form,
        # whose outer publishedAt is the day the paper entered Daily Papers
        listed = fields.get("publishedAt") or listed
        fields = {**fields, **fields["paper"]}
    withdrawn = fields.get("withdrawnAt")
    if withdrawn:
        return f"withdrawn from arXiv ({parse_date(withdrawn) or squash(withdrawn)})"
    keywords = fields.get("ai_keywords") or fields.get("keywords") or ()
    try:
        return Paper(
            title=fields.get("title") or "",
            abstract=fields.get("abstract") or fields.get("summary") or "",
            paper_id=str(fields.get("id") or fields.get("paper_id") or ""),
            url=squash(fields.get("url") or fields.get("arxivUrl") or ""),
            authors=split_authors(fields.get("authors")),
            date=fields.get("date") or fields.get("publishedAt") or fields.get("published") or "",
            listing=Listing(
                listed=fields.get("listed") or listed,
                upvotes=fields.get("upvotes"),
                comments=fields.get("numComments", fields.get("comments")),
                github=fields.get("githubRepo") or fields.get("github") or "",
                project_page=fields.get("projectPage") or fields.get("project_page") or "",
                keywords=tuple(keywords) if isinstance(keywords, list) else split_list(keywords),
            ),
        )
    except ValueError as exc:
        return str(exc)


def read_daily_papers(text: str) -> Iterator[Record]:
    """The Daily Papers page copied as text: a header, then title and abstract paragraphs."""
    paragraphs: list[tuple[int, str]] = []  # (first line number, text)
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            paragraphs.append((0, ""))
        elif paragraphs and paragraphs[-1][1]:
            paragraphs[-1] = (paragraphs[-1][0], f"{paragraphs[-1][1]}\n{line.strip()}")
        else:
            paragraphs.append((line_no, line.strip()))
    paragraphs = [(line_no, para) for line_no, para in paragraphs if para]

    page_date = ""
    for index, (_, para) in enumerate(paragraphs[:12]):
        match = HEADER_DATE.match(para)
        if match:  # the header ends with the page's date, e.g. "Aug 7"
            if match.group(1):
                page_date = parse_header_date(para)
            paragraphs = paragraphs[index + 1 :]
            break

    def is_abstract(para: str) -> bool:
        return "\n" in para or len(para) > MAX_TITLE_CHARS or para.count(". ") >= 2

    i = 0
    while i < len(paragraphs):
        line, para = paragraphs[i]
        if is_abstract(para):
            yield f"line {line}", "abstract without a title before it"
            i += 1
        elif i + 1 < len(paragraphs) and is_abstract(paragraphs[i + 1][1]):
            abstract = paragraphs[i + 1][1]
            yield (
                f"line {line}",
                make_paper({"title": para, "abstract": abstract, "date": page_date}),
            )
            i += 2
        else:
            yield f"line {line}", f"title without an abstract: {para[:80]!r}"
            i += 1


def read_json(text: str) -> Iterator[Record]:
    """A JSON list of papers, or an object with a "papers" list and the "date" they were on
    Daily Papers (the form `paperchat fetch` saves)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        yield f"line {exc.lineno}, column {exc.colno}", f"invalid JSON: {exc.msg}"
        return
    listed = ""
    if isinstance(data, dict) and isinstance(data.get("papers"), list):
        listed = parse_date(data.get("date"))  # the Daily Papers day the file holds
        data = data["papers"]
    if not isinstance(data, list):
        yield "file", 'expected a list of papers or an object with a "papers" list'
        return
    for index, record in enumerate(data, 1):
        yield f"record {index}", make_paper(record, listed)


def read_jsonl(path: Path) -> Iterator[Record]:
    """One JSON object per line, read a line at a time."""
    with path.open("rb") as lines:
        line_no = 0
        while raw := lines.readline(MAX_RECORD_BYTES + 1):
            line_no += 1
            if len(raw) > MAX_RECORD_BYTES and not raw.endswith(b"\n"):
                while (rest := lines.readline(MAX_RECORD_BYTES)) and not rest.endswith(b"\n"):
                    pass
                yield f"line {line_no}", f"longer than {MAX_RECORD_BYTES // 1_000_000} MB"
                continue
            try:
                line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError:
                yield f"line {line_no}", "not valid UTF-8 text"
                continue
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield f"line {line_no}", f"invalid JSON: {exc.msg} at column {exc.colno}"
                continue
            yield f"line {line_no}", make_paper(record)


def read_csv(text: str) -> Iterator[Record]:
    """A header row with `title` and `abstract` columns, optionally id, url, authors, date.

    A field over 1 MB (the JSONL line limit) stops the file there, with a message."""
    csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_BYTES))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = {c.strip().lower() for c in reader.fieldnames or []}
    missing = {"title", "abstract"} - columns
    if missing:
        yield "line 1", f"missing column(s) {', '.join(sorted(missing))} in the header row"
        return
    try:
        for row in reader:
            fields = {(k or "").strip().lower(): v for k, v in row.items() if k}
            yield f"line {reader.line_num}", make_paper(fields)
    except csv.Error as exc:
        yield f"line {reader.line_num + 1}", f"malformed CSV: {exc}"  # where it starts


def read_atom(text: str) -> Iterator[Record]:
    """An arXiv API response (Atom XML)."""
    if re.search(r"<!(DOCTYPE|ENTITY)", text):
        yield "file", "XML with a DOCTYPE or entity declarations is not accepted"
        return
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line, column = exc.position
        yield f"line {line}, column {column}", f"invalid XML: {exc}"
        return
    entries = root.findall(f"{ATOM}entry")
    if root.tag != f"{ATOM}feed":
        yield "file", f"expected an Atom <feed>, found <{root.tag.split('}')[-1]}>"
        return
    for index, entry in enumerate(entries, 1):
        entry_id = entry.findtext(f"{ATOM}id", "")
        if "/api/errors" in entry_id:
            yield f"entry {index}", f"arXiv API error: {squash(entry.findtext(f'{ATOM}summary'))}"
            continue
        links = [
            link.get("href", "")
            for link in entry.findall(f"{ATOM}link")
            if link.get("rel", "alternate") == "alternate"
        ]
        yield (
            f"entry {index}",
            make_paper(
                {
                    "id": entry_id,
                    "title": entry.findtext(f"{ATOM}title", ""),
                    "summary": entry.findtext(f"{ATOM}summary", ""),
                    "authors": [
                        squash(a.findtext(f"{ATOM}name")) for a in entry.findall(f"{ATOM}author")
                    ],
                    "published": entry.findtext(f"{ATOM}published", ""),
                    "url": links[0] if links else "",
                }
            ),
        )


LOADERS: dict[str, Callable[[Path], Iterator[Record]]] = {
    ".txt": whole_text(read_daily_papers),
    ".json": whole_text(read_json),
    ".jsonl": read_jsonl,
    ".csv": whole_text(read_csv),
    ".xml": whole_text(read_atom),
    ".atom": whole_text(read_atom),
}
