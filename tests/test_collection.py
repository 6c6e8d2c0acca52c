"""Questions about the collection as a whole: the scope stage (scope.py), themes (themes.py),
listing-field answers (overview.py) and comparison tables (compare.py), on both shipped
collections: the page text (no authors, links or upvotes) and the HF records."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import HF_JSON, write_jsonl

from rag.api import PaperChat
from rag.catalog import CatalogPaper
from rag.config import Settings
from rag.load import Paper
from rag.scope import AuthorNames, CollectionDays, compared_items, find_days, scope
from rag.search import FilterError
from rag.themes import find_themes, theme_terms

HF_DAYS = CollectionDays(
    published=("2026-09-25", "2026-09-28", "2026-09-29", "2026-09-30", "2026-10-01"),
    listed=("2026-10-03",),
)
AUTHORS = AuthorNames(["Delong Li", "Xu Wang", "Timothée Carecchio", "Limin Wang", "Mohit Bansal"])


def everything(term: str) -> bool:
    return True


@pytest.fixture(scope="module")
def hf_chat(tmp_path_factory, cache_dir, prepared) -> PaperChat:
    """The 50 HF records, indexed once for this module; tests must not change it."""
    data_dir = prepared("hf", tmp_path_factory.mktemp("hf") / "data")
    return PaperChat(Settings(data_dir=data_dir, cache_dir=cache_dir, _env_file=None))


def cited_titles(answer) -> list[str]:
    return [c.title for c in answer.citations]


@pytest.mark.parametrize(
    ("question", "kind", "field"),
    [
        ("what are today's papers about?", "overview", None),
        ("overveiw pls", "overview", None),
        ("give me a quick rundown of everything here", "overview", None),
        ("which papers have code on github?", "listing", "github"),
        ("any repos released?", "listing", "github"),
        ("most upvoted paper this week", "listing", "upvotes"),
        ("papers by xu wang", "listing", "authors"),
        ("what did carecchio work on", "listing", "authors"),
        ("how many papers are there?", "listing", "count"),
        ("compare honeycomb and loci in a table", "compare", None),
        # about what papers say, not the collection: retrieval answers these
        ("which papers study code generation?", None, None),
        ("how does honeycomb keep its memory constant?", None, None),
        ("summarize the loci paper", None, None),
    ],
)
def test_scope_reads_the_kind_of_question(question, kind, field):
    scoped = scope(question, AUTHORS, HF_DAYS, everything)
    assert (scoped.kind if scoped else None) == kind
    if field:
        assert scoped.field == field


def test_names_survive_accents_initials_and_order():
    for typed in ("papers by Timothee Carecchio", "papers by carecchio t.", "Carecchio papers"):
        assert scope(typed, AUTHORS, HF_DAYS, everything).authors == ("Timothée Carecchio",)
    assert scope("papers by L. Wang", AUTHORS, HF_DAYS, everything).authors == ("Limin Wang",)
    unknown = scope("papers by Yann LeCun", AUTHORS, HF_DAYS, everything)
    assert unknown.field == "authors" and unknown.unknown_author == "Yann LeCun"
    # a surname that is also a word needs a cue: "long" here is no author
    long = AuthorNames(["Wei Long"])
    assert scope("which papers handle long videos?", long, HF_DAYS, everything) is None


def test_days_resolve_against_the_collection():
    def days(text: str) -> tuple[str, str]:
        span = find_days(text, HF_DAYS)
        return span.start.isoformat(), span.end.isoformat()

    assert days("what came out on monday") == ("2026-09-28", "2026-09-28")
    assert days("papers from sept 28 to 30") == ("2026-09-28", "2026-09-30")
    assert days("Sept 29 through Oct 1") == ("2026-09-29", "2026-10-01")
    assert days("anything older than sept 28?") == ("2026-09-25", "2026-09-27")
    assert find_days("today's papers", HF_DAYS).dated == "listed"
    assert find_days("nothing dated here", HF_DAYS) is None


def test_comparisons_name_their_items():
    assert compared_items("compare honeycomb and loci in a table") == ("honeycomb", "loci")
    assert compared_items("SAF vs UDIM vs GAQAT") == ("SAF", "UDIM", "GAQAT")
    assert (
        len(compared_items("how do Honeycomb, LOCI and Memorizon handle memory differently?")) == 3
    )
    assert compared_items("which papers compare optimizers?") == ()


def test_themes_group_every_paper_once_and_name_them_by_shared_terms():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    words = ["video diffusion frames", "robot grasping arm", "proof theorem bound"]
    papers = []
    for index in range(18):
        vector = centres[index % 3] + 0.05 * rng.normal(size=16)
        text = f"We study {words[index % 3]} in setting {index}. Results on task {index}."
        paper = Paper(title=f"Paper {index}", abstract=text)
        papers.append(CatalogPaper(paper, vector / np.linalg.norm(vector)))
    themes = find_themes(papers)
    assert len(themes) == 3
    assert sorted(p.title for t in themes for p in t.papers) == sorted(
        p.paper.title for p in papers
    )
    for theme in themes:
        topic = {int(p.title.split()[1]) % 3 for p in theme.papers}
        assert len(topic) == 1  # one group each
        assert set(theme.terms) & set(words[topic.pop()].split())
    assert theme_terms(["the a", "of an"], np.array([0, 1]), 3) == [[], []]


def test_overview_answers_with_every_paper_cited(hf_chat):
    answer = hf_chat.ask("What are today's papers about?")
    assert answer.outcome == "answered"
    assert len(answer.citations) == 50 == len({c.paper_id for c in answer.citations})
    assert re.search(r"fall into \d+ themes", answer.text)
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)} == set(range(1, 51))


def test_metadata_questions_read_the_fields(hf_chat):
    records = json.loads(HF_JSON.read_text())["papers"]
    with_code = {r["title"] for r in records if r.get("githubRepo")}
    answer = hf_chat.ask("Which papers have code on GitHub?")
    assert set(cited_titles(answer)) == with_code
    assert f"{len(with_code)} of the 50 papers link a GitHub repository" in answer.text

    answer = hf_chat.ask("What is the most upvoted paper?")
    assert answer.outcome == "refused" and "All 50 papers have 0 upvotes" in answer.text

    by_li = {r["title"] for r in records if "Delong Li" in r["authors"]}
    assert set(cited_titles(hf_chat.ask("Which papers did Delong Li write?"))) == by_li
    assert hf_chat.ask("papers by Yann LeCun").outcome == "refused"

    monday = {r["title"] for r in records if r["publishedAt"].startswith("2026-09-28")}
    assert set(cited_titles(hf_chat.ask("what came out on monday?"))) == monday

    missing = hf_chat.ask("which papers have the most comments?")
    assert missing.outcome == "not_stated" and "records no comment counts" in missing.text


def test_a_collection_without_the_field_says_so(default_chat):
    for question, words in [
        ("which papers have code on github?", "code links"),
        ("papers by T. Zhang", "authors"),
        ("what's the most upvoted paper?", "upvotes"),
    ]:
        answer = default_chat.ask(question)
        assert answer.outcome == "not_stated", question
        assert f"records no {words}" in answer.text and not answer.citations


def test_comparison_is_a_table_with_a_row_per_paper(hf_chat):
    answer = hf_chat.ask("compare honeycomb and loci in a table")
    rows = [line for line in answer.text.splitlines() if line.startswith("| **")]
    assert [c.title.split(":")[0] for c in answer.citations] == ["Honeycomb", "LOCI"]
    assert len(rows) == 2 and answer.text.count("| Problem | Approach |") == 1
    for number, row in enumerate(rows, 1):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 5
        quoted = [c for c in cells[1:] if c]
        assert quoted and all(c.endswith(f"[{number}]") for c in quoted)
    assert answer.text.count("[3]") == 0


def test_themes_api_and_date_filter(hf_chat):
    found = hf_chat.themes()
    assert sum(len(t.papers) for t in found) == 50 and 2 <= len(found) <= 10
    monday = hf_chat.themes("2026-09-28", "2026-09-28")
    assert sum(len(t.papers) for t in monday) == 4
    assert json.loads(json.dumps([t.to_dict() for t in found]))[0]["papers"][0]["title"]
    with pytest.raises(FilterError):
        hf_chat.themes("2026-13-01")


def test_papers_added_later_are_in_the_next_collection_answer(chat, tmp_path):
    """A server runs all day while a cron job adds papers: the names, days and fields it
    reads are those of the collection as it is now."""
    first = {
        "title": "Counting Quokkas from Drone Images",
        "abstract": "We count quokkas in aerial images with a detector trained on drone video.",
        "authors": ["Ada Lovelace"],
        "githubRepo": "https://github.com/example/quokkas",
        "publishedAt": "2026-09-28",
    }
    chat.ingest(write_jsonl(tmp_path / "first.jsonl", [first]))
    assert cited_titles(chat.ask("papers by ada lovelace")) == [first["title"]]
    second = {
        "title": "Tracking Wombats at Night",
        "abstract": "We track wombats in thermal video with a small recurrent model.",
        "authors": ["Alan Turing"],
        "publishedAt": "2026-09-29",
    }
    chat.ingest(write_jsonl(tmp_path / "second.jsonl", [second]))
    assert cited_titles(chat.ask("papers by Turing A.")) == [second["title"]]
    assert cited_titles(chat.ask("which papers have code?")) == [first["title"]]
    assert cited_titles(chat.ask("what came out on tuesday?")) == [second["title"]]


def test_a_follow_up_on_the_listing_reads_the_papers_it_refers_to(hf_chat):
    history = []
    for question in ("which papers are about world models?", "which of them have code?"):
        answer = hf_chat.ask(question, history)
        history += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer.text},
        ]
    listed = {c.title for c in hf_chat.ask("which papers are about world models?").citations}
    assert "papers above link a GitHub repository" in answer.text
    assert set(cited_titles(answer)) <= listed
    fresh = hf_chat.ask("Which papers have code on GitHub?", history)  # its own question
    assert "32 of the 50 papers link a GitHub repository" in fresh.text
