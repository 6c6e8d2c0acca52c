"""The README's and docs' examples work as written, none of their copy-paste blocks deletes
data, and every link between them leads somewhere."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from rag.load import load_file

pytestmark = pytest.mark.slow  # the README's and docs' examples, each in a process of its own

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$", re.MULTILINE)
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)\)")


def text(path: Path) -> str:
    return path.read_text()


def without_code(markdown: str) -> str:
    """The page with its fenced blocks blanked, offsets kept: a `#` comment there is no heading."""
    return re.sub(r"```.*?```", lambda m: re.sub(r"[^\n]", " ", m.group(0)), markdown, flags=re.S)


def section(markdown: str, title: str) -> str:
    """The section headed `title`, at any level, up to the next heading of its level or above."""
    plain = without_code(markdown)
    for match in HEADING.finditer(plain):
        if match.group(2) == title:
            level = len(match.group(1))
            end = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE).search(plain, match.end())
            return markdown[match.start() : end.start() if end else None]
    raise AssertionError(f"no section {title!r}")


def sections(markdown: str) -> list[str]:
    """The page cut at every heading."""
    starts = [m.start() for m in HEADING.finditer(without_code(markdown))]
    bounds = [0, *starts, len(markdown)]
    return [markdown[a:b] for a, b in itertools.pairwise(bounds) if a < b]


def code_blocks(markdown: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", markdown, re.DOTALL)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    found, seen = set(), {}
    for match in HEADING.finditer(without_code(markdown)):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(markdown: str) -> list[str]:
    return LINK.findall(without_code(markdown))


def run_example(example: str, tmp_path, cache_dir) -> subprocess.CompletedProcess:
    (tmp_path / "data").symlink_to(ROOT / "data")  # the example's relative paths
    script = example + "\nprint('papers after the example:', PaperChat().stats()['papers'])\n"
    env = {
        **os.environ,
        "PAPERCHAT_DATA_DIR": str(tmp_path / "index"),
        "PAPERCHAT_CACHE_DIR": str(cache_dir),
    }
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("page", "title"),
    [("docs/api.md", None), ("README.md", "Use it from Python")],
)
def test_python_api_example_runs_and_deletes_nothing(tmp_path, cache_dir, page, title):
    markdown = text(ROOT / page)
    (example,) = code_blocks(markdown if title is None else section(markdown, title), "python")
    assert not re.search(r"\.(reset|remove)\(", example), "a copy-paste block that deletes"
    result = run_example(example, tmp_path, cache_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "papers after the example: 59" in result.stdout


def test_no_python_block_deletes():
    for page in PAGES:
        for block in code_blocks(text(page), "python"):
            assert not re.search(r"\.(reset|remove)\(", block), f"{page.name} deletes"


def test_ids_the_docs_remove_are_in_a_collection_they_ingest_first():
    shipped = {
        p.paper_id: f.name for f in ROOT.joinpath("data").iterdir() for p in load_file(f).papers
    }
    assert re.search(r"paperchat remove \S+", section(text(ROOT / "docs/cli.md"), "Every command"))
    for page in PAGES:
        for commands in sections(text(page)):
            for paper_id in re.findall(r"paperchat remove (\S+)", commands):
                assert paper_id in shipped, (
                    f"{page.name} removes {paper_id}, which no shipped file has"
                )
                before = commands[: commands.index(f"remove {paper_id}")]
                assert f"ingest data/{shipped[paper_id]}" in before, (
                    f"{page.name}: {paper_id} is removed before it is added"
                )


def test_the_readme_links_every_doc():
    linked = {(ROOT / target.split("#")[0]).resolve() for target in links(text(README))}
    assert DOCS, "no docs/*.md"
    missing = [doc.name for doc in DOCS if doc.resolve() not in linked]
    assert not missing, f"README.md links no {missing}"


def test_every_relative_link_leads_to_a_file_and_heading_that_exist():
    broken = []
    for page in PAGES:
        for target in links(text(page)):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists() or not file.is_relative_to(ROOT):
                broken.append(f"{page.name}: {target}")
            elif anchor and file.suffix == ".md" and anchor not in anchors(text(file)):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken


def test_the_screenshot_is_a_small_png():
    shot = ROOT / "docs" / "answer.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size < 250_000
    assert "](docs/answer.png)" in text(README)


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Fetch new papers: `paperchat fetch`", "fetch-new-papers-paperchat-fetch"),
        ("A schedule: cron or `serve --fetch-daily`", "a-schedule-cron-or-serve---fetch-daily"),
        ('"Which papers" with a language model', "which-papers-with-a-language-model"),
        ("A model: llama.cpp, no server", "a-model-llamacpp-no-server"),
    ],
)
def test_anchors_are_githubs(heading, anchor):
    assert slug(heading) == anchor
