"""Settings come from PAPERCHAT_* variables and .env, and `.env.example` lists them all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT
from pydantic import ValidationError

from rag.config import Settings, settings_errors


def test_environment_variables_map_to_sections(monkeypatch, tmp_path):
    monkeypatch.setenv("PAPERCHAT_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("PAPERCHAT_CHROMA_HOST", "db.local")
    monkeypatch.setenv("PAPERCHAT_CHROMA_PORT", "9000")
    monkeypatch.setenv("PAPERCHAT_EMBEDDING_BATCH_SIZE", "7")
    monkeypatch.setenv("PAPERCHAT_SEARCH_RRF_K", "10")
    settings = Settings(_env_file=None)
    assert settings.data_dir == tmp_path / "d"
    assert settings.cache_dir == tmp_path / "d" / "cache"
    assert (settings.chroma.host, settings.chroma.port) == ("db.local", 9000)
    assert settings.embedding.batch_size == 7
    assert settings.search.rrf_k == 10


def test_dotenv_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path(".env").write_text("PAPERCHAT_CHUNK_TOKENS=120\nPAPERCHAT_SEARCH_K=9\n")
    settings = Settings()
    assert (settings.chunk.tokens, settings.search.k) == (120, 9)


def test_openai_variables_keep_their_usual_names(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-abc")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("PAPERCHAT_LLM_MODEL", "llama3.2")
    settings = Settings(_env_file=None)
    assert settings.openai_api_key.get_secret_value() == "sk-abc"
    assert "sk-abc" not in repr(settings)
    assert settings.openai_base_url == "http://127.0.0.1:11434/v1"
    assert settings.llm.model == "llama3.2" and settings.llm_configured


def test_invalid_values_are_rejected(monkeypatch):
    monkeypatch.setenv("PAPERCHAT_CHUNK_TOKENS", "100")
    monkeypatch.setenv("PAPERCHAT_CHUNK_OVERLAP", "100")
    with pytest.raises(ValidationError, match="overlap"):
        Settings(_env_file=None)


def all_variables(model, prefix="PAPERCHAT_") -> set[str]:
    names = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if field.validation_alias:  # OPENAI_API_KEY and OPENAI_BASE_URL keep their usual names
            names.add(field.validation_alias.choices[0])
        elif isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            names |= {f"{prefix}{name.upper()}_{sub.upper()}" for sub in annotation.model_fields}
        else:
            names.add(f"{prefix}{name.upper()}")
    return names


def test_env_example_lists_every_setting():
    text = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*((?:PAPERCHAT|OPENAI|HF)_[A-Z_]+)=", text, re.MULTILINE))
    assert listed == all_variables(Settings)
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    readme = "\n".join(page.read_text() for page in pages)
    assert all(name in readme for name in listed)


def test_importing_rag_is_cheap():
    import subprocess
    import sys

    heavy = ("onnxruntime", "chromadb", "langchain_core", "bm25s")
    code = f"import sys, rag; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "name", ["abc", "a_b-c.D9", "x" * 255, "ab", "-ab", "ab.", "a..b", "1.2.3.4", "ab c", "é" * 4]
)
def test_collection_names_follow_chromas_rule(tmp_path, name):
    import chromadb

    try:
        Settings(_env_file=None, chroma={"collection": name})
        accepted = True
    except ValidationError:
        accepted = False
    client = chromadb.PersistentClient(str(tmp_path))
    try:
        client.create_collection(name)
        chroma_accepts = True
    except (ValueError, chromadb.errors.ChromaError):
        chroma_accepts = False
    assert accepted == chroma_accepts


def test_settings_errors_name_the_variable_and_never_show_a_secret(monkeypatch):
    monkeypatch.setenv("PAPERCHAT_CHROMA_COLLECTION", "hf")
    monkeypatch.setenv("PAPERCHAT_SEARCH_K", "0")
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None, OPENAI_API_KEY=12345)
    assert settings_errors(raised.value) == [
        "PAPERCHAT_CHROMA_COLLECTION must have at least 3 characters, got 'hf'",
        "PAPERCHAT_SEARCH_K must be greater than or equal to 1, got '0'",
        "OPENAI_API_KEY must be a valid string",
    ]
    monkeypatch.setenv("PAPERCHAT_CHUNK_OVERLAP", "100")
    monkeypatch.setenv("PAPERCHAT_CHUNK_TOKENS", "90")
    monkeypatch.delenv("PAPERCHAT_SEARCH_K")
    monkeypatch.delenv("PAPERCHAT_CHROMA_COLLECTION")
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None)
    assert settings_errors(raised.value) == [
        "PAPERCHAT_CHUNK_OVERLAP (100) must be smaller than PAPERCHAT_CHUNK_TOKENS (90)"
    ]
