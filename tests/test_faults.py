"""Faults on the machine: a full disk and a read-only data directory give one clear line,
lose nothing, and the next run completes the work."""

from __future__ import annotations

import json
import os
import resource
import shutil
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import DEFAULT_COLLECTION

pytestmark = pytest.mark.slow  # real processes under a full disk and a read-only directory

WRITE = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


def file_size_limit(limit: int):
    """Files can grow to `limit` bytes and no further (EFBIG): a disk that fills up."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_full_disk_is_a_clear_error_and_the_next_run_completes(run):
    full = run("ingest", str(DEFAULT_COLLECTION), limit=file_size_limit(400_000))
    assert full.returncode == 2, full.stdout + full.stderr
    assert "could not write the index" in full.stderr and "disk full" in full.stderr
    assert "Traceback" not in full.stderr

    again = run("ingest", str(DEFAULT_COLLECTION), "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert len(report["added"]) + len(report["unchanged"]) + len(report["updated"]) == 59
    stats = json.loads(run("stats", "--json").stdout)
    assert (stats["papers"], stats["chunks"]) == (59, 153)
    hits = json.loads(run("search", "reward overoptimization", "--json").stdout)
    assert hits[0]["title"] == "Reward Model Ensembles Help Mitigate Overoptimization"


@contextmanager
def read_only(path: Path) -> Iterator[tuple[str, ...]]:
    """What to run a command under so that it sees `path` read-only: a read-only bind mount
    in its own mount namespace when root (root ignores file modes), else file modes."""
    if os.geteuid() == 0:
        script = f'mount --bind "{path}" "{path}" && mount -o remount,bind,ro "{path}" && exec "$@"'
        wrap = ("unshare", "--mount", "sh", "-c", script, "sh")
        probe = shutil.which("unshare") and subprocess.run(
            [*wrap, "sh", "-c", f'! touch "{path}/probe"'], capture_output=True
        )
        if not probe or probe.returncode != 0:
            pytest.skip("root ignores file modes, and no read-only mount can be made here")
        yield wrap
        return
    targets = [
        Path(folder) / name for folder, dirs, files in os.walk(path) for name in dirs + files
    ]
    for target in [path, *targets]:
        target.chmod(target.stat().st_mode & ~WRITE)
    try:
        yield ()
    finally:
        for target in [path, *targets]:
            target.chmod(target.stat().st_mode | stat.S_IWUSR)


def test_read_only_data_directory_is_a_clear_error(run, tmp_path, prepared):
    prepared("default", tmp_path / "data")
    with read_only(tmp_path / "data") as wrap:
        for args in (("search", "reward"), ("ingest", str(DEFAULT_COLLECTION)), ("stats",)):
            result = run(*args, wrap=wrap)
            assert result.returncode == 2, result.stdout + result.stderr
            assert "is read-only" in result.stderr and "PAPERCHAT_DATA_DIR" in result.stderr
            assert "Traceback" not in result.stderr
    assert run("search", "reward").returncode == 0  # nothing was damaged
