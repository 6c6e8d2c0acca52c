"""The data directory's locks (rag/owner.py): re-entrant in a process, exclusive across
processes and threads, dropped by the kernel when their process dies."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from rag import owner


def hold_in_child(code: str) -> subprocess.Popen:
    """A Python process that runs `code` (which takes a lock), prints "held", and keeps it
    until its standard input closes."""
    child = subprocess.Popen(
        [sys.executable, "-c", f"{code}\nprint('held', flush=True)\nimport sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "held"
    return child


def write_in_child(data_dir) -> str:
    """Code that enters `owner.writing` on `data_dir` and stays in it."""
    where = f"owner.Path({str(data_dir)!r})"
    return f"from rag import owner\nw = owner.writing({where}, print)\nw.__enter__()"


def try_lock_in_child(path) -> bool:
    code = f"from rag import owner; print(owner.try_lock(owner.Path({str(path)!r})))"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return child.stdout.strip() == "True"


def test_a_lock_is_re_entrant_here_and_exclusive_across_processes(tmp_path):
    path = tmp_path / "owner.lock"
    assert owner.try_lock(path) and owner.try_lock(path)  # two holders in this process
    assert not owner.held_elsewhere(path)
    assert not try_lock_in_child(path)
    owner.unlock(path)
    assert not try_lock_in_child(path)
    owner.unlock(path)  # the last holder: now free for others
    assert try_lock_in_child(path)


def test_a_killed_holder_leaves_no_lock_behind(tmp_path):
    path = tmp_path / "owner.lock"
    child = hold_in_child(
        f"from rag import owner; assert owner.try_lock(owner.Path({str(path)!r}))"
    )
    assert owner.held_elsewhere(path) and not owner.try_lock(path)
    child.kill()
    child.wait()
    assert not owner.held_elsewhere(path) and owner.try_lock(path)
    owner.unlock(path)


def test_a_write_is_seen_from_other_threads_and_processes_not_by_the_writer(tmp_path):
    seen: dict[str, bool] = {}
    with owner.writing(tmp_path, print):
        seen["writer"] = owner.writer_active(tmp_path)
        reader = threading.Thread(
            target=lambda: seen.setdefault("reader", owner.writer_active(tmp_path))
        )
        reader.start()
        reader.join()
    seen["after"] = owner.writer_active(tmp_path)
    assert seen == {"writer": False, "reader": True, "after": False}

    child = hold_in_child(write_in_child(tmp_path))
    try:
        assert owner.writer_active(tmp_path)
        assert owner.writer(tmp_path) == f"pid {child.pid} (python)"
    finally:
        child.stdin.close()
        child.wait()
    assert not owner.writer_active(tmp_path)


def test_a_second_writer_waits_and_says_for_whom_once(tmp_path):
    child = hold_in_child(write_in_child(tmp_path))
    said: list[str] = []
    threading.Timer(1.0, child.stdin.close).start()
    with owner.writing(tmp_path, said.append):
        assert child.wait(timeout=10) == 0  # it had to finish first
    assert said == [f"waiting for pid {child.pid} (python) to finish writing to {tmp_path}"]


def test_no_server_for_a_store_this_process_has_open_embedded(tmp_path):
    assert owner.claim_store(tmp_path, print) is None
    try:
        with pytest.raises(owner.StoreBusy, match=r"this process has .* open already"):
            owner.ChromaServer(tmp_path, print)
    finally:
        owner.release_store(tmp_path)
