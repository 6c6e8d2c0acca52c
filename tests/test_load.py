"""Parsers: every format, stable ids, and malformed input that skips only what is bad."""

from __future__ import annotations

import csv
import json
import re

import pytest
from conftest import DEFAULT_COLLECTION, HF_JSON, write_jsonl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.load import LOADERS, LoadError, Paper, arxiv_id, find_files, load_file

ATOM = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
  <title type="html">ArXiv Query: search_query=all:overoptimization</title>
  <entry>
    <id>http://arxiv.org/abs/2310.02743v2</id>
    <published>2023-10-04T11:34:22Z</published>
    <title>Reward Model Ensembles Help
      Mitigate Overoptimization</title>
    <summary>  Reinforcement learning from human feedback is a standard approach.
    </summary>
    <author><name>Thomas Coste</name></author>
    <author><name>Usman Anwar</name></author>
    <link href="http://arxiv.org/abs/2310.02743v2" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/2310.02743v2" rel="related"/>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/hep-th/9901001v1</id>
    <published>1999-01-01T00:00:00Z</published>
    <title>An old-style identifier</title>
    <summary>Strings.</summary>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/2401.00001v1</id>
    <title>No abstract here</title>
    <summary>   </summary>
  </entry>
</feed>
"""


def daily_papers_blocks() -> list[tuple[str, str]]:
    """Title and abstract pairs read independently of the parser: paragraphs after the header."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", DEFAULT_COLLECTION.read_text())]
    body = [p for p in paragraphs if p][6:]
    return list(zip(body[::2], body[1::2], strict=True))


def test_default_collection_has_59_papers_with_their_own_titles():
    collection = load_file(DEFAULT_COLLECTION)
    assert collection.skipped == []
    assert len(collection.papers) == 59
    expected = daily_papers_blocks()
    assert [(p.title, p.abstract) for p in collection.papers] == expected
    assert collection.papers[0].title.startswith("Low Rank Matrix Completion")
    assert len({p.paper_id for p in collection.papers}) == 59
    assert all(p.source == "daily_papers.txt" for p in collection.papers)


def test_daily_papers_text_reports_a_title_without_abstract(tmp_path):
    (title_a, _), (title_b, abstract_b) = daily_papers_blocks()[:2]
    text = f"Daily Papers\n\nAug 7\n\n{title_a}\n\nLonely title\n\n{title_b}\n\n{abstract_b}\n"
    path = tmp_path / "page.txt"
    path.write_text(text)
    collection = load_file(path)
    assert [p.title for p in collection.papers] == [title_b]
    reasons = [f"{s.location}: {s.reason}" for s in collection.skipped]
    assert reasons[0].startswith("line 5: title without an abstract")
    assert reasons[1].startswith("line 7: title without an abstract")


def test_daily_papers_header_with_a_year_dates_the_papers(tmp_path):
    title, abstract = daily_papers_blocks()[0]
    path = tmp_path / "page.txt"
    path.write_text(f"Daily Papers\n\nAugust 7, 2023\n\n{title}\n\n{abstract}\n")
    (paper,) = load_file(path).papers
    assert (paper.title, paper.date) == (title, "2023-08-07")


def test_hf_daily_papers_json():
    collection = load_file(HF_JSON)
    assert collection.skipped == []
    assert len(collection.papers) == 50
    first = collection.papers[0]
    raw = json.loads(HF_JSON.read_text())["papers"][0]
    assert first.paper_id == raw["id"] == "2609.22753"
    assert first.title == raw["title"]
    assert first.authors[0] == "Delong Li"
    assert first.date == "2026-09-26"
    assert first.url == "https://arxiv.org/abs/2609.22753"


def test_json_list_and_hf_api_nesting(tmp_path):
    path = tmp_path / "papers.json"
    path.write_text(
        json.dumps(
            [
                {
                    "paper": {
                        "id": "2310.02743",
                        "title": "Ensembles",
                        "summary": "Abstract one.",
                        "authors": [{"name": "Thomas Coste"}],
                        "publishedAt": "2023-10-04T00:00:00Z",
                    }
                },
                {"title": "Second", "summary": "Abstract two."},
                {"title": "", "summary": "No title."},
                "not an object",
            ]
        )
    )
    collection = load_file(path)
    assert collection.papers[0].paper_id == "2310.02743"
    assert collection.papers[0].authors == ("Thomas Coste",)
    assert [(s.location, s.reason) for s in collection.skipped] == [
        ("record 3", "missing title"),
        ("record 4", "expected an object, got str"),
    ]


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"title": "A", "summary": "B"},\n  {"title": \n')
    collection = load_file(path)
    assert collection.papers == []
    (skipped,) = collection.skipped
    assert skipped.source == "broken.json"
    assert skipped.location.startswith("line 4")
    assert "invalid JSON" in skipped.reason


def test_jsonl_keeps_good_lines_around_bad_ones(tmp_path):
    path = write_jsonl(
        tmp_path / "papers.jsonl",
        [
            {"title": "First paper", "abstract": "About one thing.", "authors": ["A. Author"]},
            {"title": "No abstract"},
        ],
    )
    with path.open("a") as out:
        out.write("{not json\n")
        out.write(json.dumps({"title": "Last paper", "abstract": "About another."}) + "\n")
    collection = load_file(path)
    assert [p.title for p in collection.papers] == ["First paper", "Last paper"]
    assert [(s.location, s.reason.split(":")[0]) for s in collection.skipped] == [
        ("line 2", "missing abstract"),
        ("line 3", "invalid JSON"),
    ]


def test_csv_with_optional_columns_and_quoted_newlines(tmp_path):
    path = tmp_path / "papers.csv"
    path.write_text(
        "Title,Abstract,id,url,authors,date\n"
        '"Paper, with comma","Line one.\nLine two.",,https://example.org/p,'
        '"Ann Lee; Bo Li",2024-02-03\n'
        "Bare title,,,,,\n"
        "Arxiv paper,Text.,2401.12345v3,,,\n"
    )
    collection = load_file(path)
    first, second = collection.papers
    assert first.title == "Paper, with comma"
    assert first.abstract == "Line one. Line two."
    assert first.authors == ("Ann Lee", "Bo Li")
    assert first.date == "2024-02-03"
    assert first.url == "https://example.org/p"
    assert second.paper_id == "2401.12345"
    assert [(s.location, s.reason) for s in collection.skipped] == [("line 4", "missing abstract")]


def test_csv_without_required_columns(tmp_path):
    path = tmp_path / "papers.csv"
    path.write_text("name,summary\nx,y\n")
    (skipped,) = load_file(path).skipped
    assert (skipped.location, skipped.reason) == (
        "line 1",
        "missing column(s) abstract, title in the header row",
    )


def test_arxiv_atom(tmp_path):
    path = tmp_path / "query.xml"
    path.write_text(ATOM)
    collection = load_file(path)
    first, old = collection.papers
    assert first.paper_id == "2310.02743"
    assert first.title == "Reward Model Ensembles Help Mitigate Overoptimization"
    assert first.authors == ("Thomas Coste", "Usman Anwar")
    assert first.date == "2023-10-04"
    assert first.url == "http://arxiv.org/abs/2310.02743v2"
    assert old.paper_id == "hep-th/9901001"
    assert [(s.location, s.reason) for s in collection.skipped] == [("entry 3", "missing abstract")]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("<feed><entry>", "invalid XML"),
        ('<!DOCTYPE x [<!ENTITY a "b">]><feed/>', "DOCTYPE"),
        ("<html></html>", "expected an Atom <feed>"),
    ],
)
def test_malformed_atom(tmp_path, content, reason):
    path = tmp_path / "bad.atom"
    path.write_text(content)
    collection = load_file(path)
    assert collection.papers == []
    assert reason in collection.skipped[0].reason


def test_non_utf8_file_names_the_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"title": "ok", "abstract": "fine"}\n{"title": "Caf\xe9"}\n')
    collection = load_file(path)
    (skipped,) = collection.skipped
    assert (skipped.location, skipped.reason) == ("line 2", "not valid UTF-8 text")
    assert [p.title for p in collection.papers] == ["ok"]  # the lines around it still count


def test_paths_errors_are_specific(tmp_path):
    with pytest.raises(LoadError, match="no such file"):
        find_files([tmp_path / "missing.json"])
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    with pytest.raises(LoadError, match=r"unsupported file type \.pdf"):
        find_files([tmp_path / "notes.pdf"])
    with pytest.raises(LoadError, match="no collection files"):
        find_files([tmp_path])


def test_directories_are_walked(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"title": "A", "abstract": "Text A."}])
    (tmp_path / "sub").mkdir()
    write_jsonl(tmp_path / "sub" / "b.jsonl", [{"title": "B", "abstract": "Text B."}])
    (tmp_path / "sub" / "notes.pdf").write_bytes(b"%PDF")
    files, ignored = find_files([tmp_path])
    loaded = {path.name: len(load_file(path).papers) for path in files}
    assert loaded == {"a.jsonl": 1, "b.jsonl": 1}
    assert ignored == [tmp_path / "sub" / "notes.pdf"]


def test_paper_ids_are_stable():
    a = Paper(title="Attention  Is All You Need!", abstract="x")
    b = Paper(title="attention is all you need", abstract="y")
    assert a.paper_id == b.paper_id and len(a.paper_id) == 12
    assert a.content_hash != b.content_hash
    assert Paper(title="t", abstract="a", url="https://arxiv.org/abs/1706.03762v7").paper_id == (
        "1706.03762"
    )
    assert Paper(title="t", abstract="a", paper_id="my-id").paper_id == "my-id"
    assert arxiv_id("doi:10.1000/1234.56789") == ""


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "title",
                    "abstract",
                    "summary",
                    "id",
                    "url",
                    "authors",
                    "date",
                    "publishedAt",
                    "paper",
                    "papers",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=2000), suffix=st.sampled_from(sorted(LOADERS)))
def test_any_bytes_parse_or_report_never_crash(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("fuzz") / f"input{suffix}"
    path.write_bytes(data)
    collection = load_file(path)
    assert all(p.title and p.abstract and p.paper_id for p in collection.papers)
    assert all(s.source == path.name and s.reason for s in collection.skipped)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=JSON_VALUES)
def test_any_json_shape_parses_or_reports(tmp_path_factory, value):
    folder = tmp_path_factory.mktemp("fuzz")
    for name, text in (("a.json", json.dumps(value)), ("a.jsonl", json.dumps(value) + "\n")):
        (folder / name).write_text(text)
        collection = load_file(folder / name)
        assert all(p.title and p.abstract and p.paper_id for p in collection.papers)
        assert all(s.location and s.reason for s in collection.skipped)


LATEX_AND_UNICODE = st.sampled_from(
    [
        r"$\mathcal{O}(n \log n)$",
        r"\textbf{bold} and \emph{it}",
        "e\u0301t\u00e9 (combining accent)",
        "\u202eright-to-left override\u202c",
        "zero\u200bwidth\u200djoin",
        "\U0001f9ea emoji \U0001f600",
        "\u4e2d\u6587\u6458\u8981",
        "\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
        "quotes \" and ' and , commas; semicolons",
        "tab\there\nnewline\r\ncrlf",
        "\x00nul\x7fdel",
    ]
)
TEXTS = st.lists(LATEX_AND_UNICODE | st.text(max_size=40), min_size=1, max_size=4).map(" ".join)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(records=st.lists(st.tuples(TEXTS, TEXTS), min_size=1, max_size=5))
def test_latex_and_unicode_survive_jsonl_and_csv(tmp_path_factory, records):
    """Whatever the text, a record is parsed to exactly its (whitespace-squashed) fields, or
    skipped with a reason; never mangled."""
    folder = tmp_path_factory.mktemp("text")
    as_dicts = [{"title": t, "abstract": a} for t, a in records]
    jsonl = write_jsonl(folder / "p.jsonl", as_dicts)
    with (folder / "p.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, ["title", "abstract"])
        writer.writeheader()
        writer.writerows(as_dicts)
    for path in (jsonl, folder / "p.csv"):
        collection = load_file(path)
        parsed = [(p.title, p.abstract) for p in collection.papers]
        expected = [(" ".join(t.split()), " ".join(a.split())) for t, a in records]
        usable = [(t, a) for t, a in expected if t and a and len(t) <= 300]
        if path.suffix == ".jsonl":
            assert parsed == usable
            assert len(collection.skipped) == len(expected) - len(usable)
        else:  # csv may read a record differently only when it cannot represent it (NUL)
            assert parsed == usable or any("\x00" in t + a for t, a in expected)


def test_enormous_lines_are_skipped_not_loaded(tmp_path):
    good = json.dumps({"title": "Fine", "abstract": "A normal abstract."})
    huge = json.dumps({"title": "Huge", "abstract": "word " * 400_000})  # 2 MB
    path = tmp_path / "big.jsonl"
    path.write_text(f"{good}\n{huge}\n{good.replace('Fine', 'Also fine')}\n")
    collection = load_file(path)
    assert [p.title for p in collection.papers] == ["Fine", "Also fine"]
    (skipped,) = collection.skipped
    assert (skipped.location, skipped.reason) == ("line 2", "longer than 1 MB")

    csv_path = tmp_path / "big.csv"
    long, huge = "word " * 40_000, "word " * 400_000  # 200 kB: long but fine; 2 MB: not
    csv_path.write_text(f'title,abstract\nFine,short\nLong,"{long}"\nHuge,"{huge}"\nLost,x\n')
    collection = load_file(csv_path)
    assert [p.title for p in collection.papers] == ["Fine", "Long"]
    (skipped,) = collection.skipped
    assert skipped.location == "line 4" and "malformed CSV: field larger" in skipped.reason
