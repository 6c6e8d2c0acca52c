"""One settings object, read from `PAPERCHAT_*` environment variables and `.env`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

from platformdirs import user_data_dir
from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.local_llm import check_gguf

COLLECTION_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]")
IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
RULE_START = re.compile(r"^(?:String|Input|Value) should ")


class ChromaSettings(BaseModel):
    """Where the vectors live: embedded under the data directory, or a Chroma server."""

    host: str | None = Field(None, description="Chroma server host; unset means embedded")
    port: int = Field(8000, ge=1, le=65535)
    ssl: bool = False
    # Chroma allows 3-512 characters; the keyword index is a folder of this name, hence 255.
    collection: str = Field("papers", min_length=3, max_length=255)

    @field_validator("collection")
    @classmethod
    def _chroma_accepts(cls, name: str) -> str:
        """Chroma's rule for collection names, checked before Chroma is opened."""
        if not COLLECTION_NAME.fullmatch(name) or ".." in name or IPV4.fullmatch(name):
            raise ValueError(
                "must hold only letters, digits, '.', '_' and '-', start and end with a letter"
                " or digit, have no '..' and not be an IPv4 address"
            )
        return name


class EmbeddingSettings(BaseModel):
    """The local all-MiniLM-L6-v2 model run on onnxruntime, or a served embedding model."""

    batch_size: int = Field(4, ge=1, le=1024, description="texts per local model call")
    threads: int = Field(0, ge=0, description="onnxruntime threads; 0 means one per core")
    model: str = Field(
        "", description="a model at an OpenAI-compatible /v1/embeddings; empty: local MiniLM"
    )
    base_url: str | None = Field(None, description="its server; default OPENAI_BASE_URL")
    api_key: SecretStr | None = Field(None, description="its key; default OPENAI_API_KEY")


class ChunkSettings(BaseModel):
    """Abstract chunking, measured in cl100k_base tokens."""

    tokens: int = Field(180, ge=32, le=240)
    overlap: int = Field(60, ge=0, le=120, description="whole sentences up to this many tokens")


class SearchSettings(BaseModel):
    """Hybrid search: dense and BM25 candidates, fused by reciprocal rank, the leading ones
    ranked by the learned fusion model."""

    k: int = Field(5, ge=1, le=100)
    candidates: int = Field(50, ge=5, le=1000, description="chunks fetched per retriever")
    rrf_k: int = Field(60, ge=1)
    dense_weight: float = Field(1.0, ge=0)
    keyword_weight: float = Field(1.0, ge=0)
    pool: int = Field(20, ge=1, le=200, description="leading papers the fusion model ranks")


class LLMSettings(BaseModel):
    """The language model that writes answers, through any OpenAI-compatible API."""

    model: str = "gpt-4o-mini"
    answerer: Literal["auto", "extractive", "llm"] = Field(
        "auto", description="auto: the LLM when one is configured, else extractive"
    )
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(700, ge=16, le=32768)
    timeout: float = Field(60.0, gt=0, description="seconds per request")
    max_retries: int = Field(2, ge=0, le=10, description="retries on 429, 5xx and timeouts")
    lists: Literal["extractive", "per_paper", "free"] = Field(
        "extractive",
        description="an LLM's 'which papers' answers: code's list, a verdict per paper, or free",
    )
    style: Literal["auto", "full", "brief"] = Field(
        "auto",
        description="full: the model writes the answer from the papers' excerpts; brief: a"
        " sentence or two per paper restating its quoted sentences; auto: brief for a model the"
        " server reports under 1B parameters",
    )
    gguf: Path | None = Field(
        None, description="a GGUF model that llama.cpp runs inside PaperChat; unset: none"
    )
    context: int = Field(
        4096, ge=512, le=1_048_576, description="the model's context window in tokens"
    )
    threads: int = Field(0, ge=0, le=256, description="llama.cpp threads; 0 means one per core")
    port: int = Field(0, ge=0, le=65535, description="llama.cpp's loopback port; 0: a free one")

    @field_validator("gguf")
    @classmethod
    def _is_gguf(cls, path: Path | None) -> Path | None:
        return check_gguf(path) if path else None


class HFSettings(BaseModel):
    """Hugging Face Daily Papers, which `paperchat fetch` reads."""

    endpoint: str = Field("https://huggingface.co", description="the Hub, or a mirror of its API")
    page_size: int = Field(100, ge=1, le=1000, description="papers asked for per request")


class ArxivSettings(BaseModel):
    """The arXiv API, which `paperchat fetch --arxiv` reads."""

    endpoint: str = Field("https://export.arxiv.org", description="the arXiv API's server")
    spacing: float = Field(3.0, ge=0, description="seconds between requests, as arXiv asks")


class FetchSettings(BaseModel):
    """How `paperchat fetch` treats a slow, busy or failing server."""

    timeout: float = Field(30.0, gt=0, description="seconds per request")
    retries: int = Field(4, ge=0, le=20, description="retries of a 429, 5xx or timeout")
    backoff: float = Field(2.0, ge=0, description="seconds before the first retry, then doubled")
    max_wait: float = Field(300.0, ge=0, description="the longest wait a 429 may ask for")
    daily: bool = Field(False, description="`paperchat serve` fetches Daily Papers itself")
    every: float = Field(6.0, gt=0, le=24 * 7, description="hours between those fetches")


class AnswerSettings(BaseModel):
    """Grounded answers: how many papers, how much context. When to answer, offer the
    closest paper or refuse is learned (rag/models/), not set."""

    sources: int = Field(6, ge=1, le=20, description="papers retrieved for an answer")
    context_tokens: int = Field(3000, ge=200, le=100_000)
    max_question_chars: int = Field(2000, ge=50, le=100_000)


class Settings(BaseSettings):
    """All of PaperChat's configuration. `PAPERCHAT_CHROMA_HOST` sets `chroma.host`, and so on."""

    model_config = SettingsConfigDict(
        env_prefix="PAPERCHAT_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="ignore",
        populate_by_name=True,
    )

    data_dir: Path = Field(
        default_factory=lambda: Path(user_data_dir("paperchat", appauthor=False)),
        description="everything PaperChat writes; the same from any working folder",
    )
    cache_dir: Path | None = Field(None, description="model files; default DATA_DIR/cache")
    chroma: ChromaSettings = ChromaSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    chunk: ChunkSettings = ChunkSettings()
    search: SearchSettings = SearchSettings()
    llm: LLMSettings = LLMSettings()
    answer: AnswerSettings = AnswerSettings()
    hf: HFSettings = HFSettings()
    arxiv: ArxivSettings = ArxivSettings()
    fetch: FetchSettings = FetchSettings()
    hf_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("HF_TOKEN"), description="sent to the Hub only"
    )
    prompts_dir: Path | None = Field(None, description="prompt files overriding prompts/")
    auth: SecretStr | None = Field(None, description="user:password for the web UI")
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "PAPERCHAT_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_BASE_URL", "PAPERCHAT_OPENAI_BASE_URL")
    )

    @property
    def llm_configured(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url or self.llm.gguf)

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        self.cache_dir = (self.cache_dir or self.data_dir / "cache").expanduser().resolve()
        if self.llm.context <= self.llm.max_tokens:
            raise ValueError(
                f"PAPERCHAT_LLM_CONTEXT ({self.llm.context}) must be larger than"
                f" PAPERCHAT_LLM_MAX_TOKENS ({self.llm.max_tokens}): the answer fits in it"
            )
        if self.chunk.overlap >= self.chunk.tokens:
            raise ValueError(
                f"PAPERCHAT_CHUNK_OVERLAP ({self.chunk.overlap}) must be smaller than"
                f" PAPERCHAT_CHUNK_TOKENS ({self.chunk.tokens})"
            )
        return self


def environment_variable(loc: tuple[int | str, ...]) -> str:
    """The variable that sets the setting at `loc`: ('chroma', 'collection') is
    PAPERCHAT_CHROMA_COLLECTION; an alias such as OPENAI_API_KEY is its own name."""
    if str(loc[0]).isupper():
        return str(loc[0])
    return "PAPERCHAT_" + "_".join(map(str, loc)).upper()


def is_secret(loc: tuple[int | str, ...]) -> bool:
    """Whether the setting at `loc` is a SecretStr, whose value is never shown."""
    annotation: Any = Settings
    for part in loc:
        fields = getattr(annotation, "model_fields", {})
        name = str(part).lower().removeprefix("paperchat_")
        if name not in fields:
            return False
        annotation = fields[name].annotation
    return SecretStr in (annotation, *get_args(annotation))


def settings_errors(error: ValidationError) -> list[str]:
    """One line per invalid setting: its variable, the rule and the value (not a secret's)."""
    lines = []
    for item in error.errors():
        rule = RULE_START.sub("must ", item["msg"].removeprefix("Value error, "))
        loc = item["loc"]
        if not loc:  # a rule about several settings names them itself
            lines.append(rule)
        elif is_secret(loc):
            lines.append(f"{environment_variable(loc)} {rule}")
        else:
            lines.append(f"{environment_variable(loc)} {rule}, got {item['input']!r}")
    return lines
