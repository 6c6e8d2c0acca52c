"""Benchmarks: scripts that print figures and assert nothing. Shared helpers live here."""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
