"""How long `paperchat` commands take from a cold process start to their exit.

    python bench/cli_start.py [--runs 5]

Indexes the default collection into a scratch data directory once, then runs `paperchat
--help`, `paperchat stats` and `paperchat search "reward overoptimization"` each `--runs`
times as whole new processes, and prints the median and the slowest wall time, with the time
`import rag.cli` takes alone. Prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import CACHE_DIR  # noqa: E402

COMMANDS = {
    "import rag.cli": [sys.executable, "-c", "import rag.cli"],
    "paperchat --help": [sys.executable, "-m", "rag", "--help"],
    "paperchat stats": [sys.executable, "-m", "rag", "stats"],
    "paperchat search": [sys.executable, "-m", "rag", "search", "reward overoptimization"],
}


def wall_time(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        env = {
            **os.environ,
            "PAPERCHAT_DATA_DIR": str(Path(scratch) / "data"),
            "PAPERCHAT_CACHE_DIR": str(args.cache_dir),
        }
        ingest = [sys.executable, "-m", "rag", "ingest", str(ROOT / "data" / "daily_papers.txt")]
        subprocess.run(ingest, env=env, check=True, capture_output=True)
        print(f"{os.cpu_count()} cores; {args.runs} cold starts each, after one warm-up run")
        print(f"{'command':<20} {'median':>8} {'slowest':>8}")
        for name, command in COMMANDS.items():
            wall_time(command, env)  # the page cache warm, as on a machine in use
            times = [wall_time(command, env) for _ in range(args.runs)]
            print(f"{name:<20} {statistics.median(times):>7.2f}s {max(times):>7.2f}s")


if __name__ == "__main__":
    main()
