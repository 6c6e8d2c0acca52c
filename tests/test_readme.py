"""The README's examples work as written, and none of its copy-paste blocks deletes data."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import ROOT

from rag.load import load_file

README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL)


def test_python_api_example_runs_and_deletes_nothing(tmp_path, cache_dir):
    (example,) = code_blocks(section("Python API"), "python")
    assert not re.search(r"\.(reset|remove)\(", example), "a copy-paste block that deletes"
    (tmp_path / "data").symlink_to(ROOT / "data")  # the example's relative paths
    script = example + "\nprint('papers after the example:', PaperChat().stats()['papers'])\n"
    env = {
        **os.environ,
        "PAPERCHAT_DATA_DIR": str(tmp_path / "index"),
        "PAPERCHAT_CACHE_DIR": str(cache_dir),
    }
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "papers after the example: 59" in result.stdout


def test_ids_the_readme_removes_are_in_a_collection_it_ingests_first():
    commands = section("Command line")
    shipped = {
        p.paper_id: f.name for f in ROOT.joinpath("data").iterdir() for p in load_file(f).papers
    }
    removed = re.findall(r"paperchat remove (\S+)", commands)
    assert removed
    for paper_id in removed:
        assert paper_id in shipped, f"the README removes {paper_id}, which no shipped file has"
        before = commands[: commands.index(f"remove {paper_id}")]
        assert f"ingest data/{shipped[paper_id]}" in before, (
            f"{paper_id} is removed before it is added"
        )
