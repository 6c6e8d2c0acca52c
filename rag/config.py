"""One settings object, read from `PAPERCHAT_*` environment variables and `.env`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ChromaSettings(BaseModel):
    """Where the vectors live: embedded under the data directory, or a Chroma server."""

    host: str | None = Field(None, description="Chroma server host; unset means embedded")
    port: int = Field(8000, ge=1, le=65535)
    ssl: bool = False
    collection: str = Field("papers", min_length=3, max_length=63)


class EmbeddingSettings(BaseModel):
    """The local all-MiniLM-L6-v2 model run on onnxruntime."""

    batch_size: int = Field(16, ge=1, le=1024, description="texts per model call")
    threads: int = Field(0, ge=0, description="onnxruntime threads; 0 means one per core")


class ChunkSettings(BaseModel):
    """Abstract chunking, measured in cl100k_base tokens."""

    tokens: int = Field(180, ge=32, le=240)
    overlap: int = Field(60, ge=0, le=120, description="whole sentences up to this many tokens")


class SearchSettings(BaseModel):
    """Hybrid search: dense and BM25 candidates, fused by reciprocal rank."""

    k: int = Field(5, ge=1, le=100)
    candidates: int = Field(50, ge=5, le=1000, description="chunks fetched per retriever")
    rrf_k: int = Field(60, ge=1)
    dense_weight: float = Field(1.0, ge=0)
    keyword_weight: float = Field(1.0, ge=0)


class Settings(BaseSettings):
    """All of PaperChat's configuration. `PAPERCHAT_CHROMA_HOST` sets `chroma.host`, and so on."""

    model_config = SettingsConfigDict(
        env_prefix="PAPERCHAT_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="ignore",
    )

    data_dir: Path = Field(Path(".paperchat"), description="everything PaperChat writes")
    cache_dir: Path | None = Field(None, description="model files; default DATA_DIR/cache")
    chroma: ChromaSettings = ChromaSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    chunk: ChunkSettings = ChunkSettings()
    search: SearchSettings = SearchSettings()

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        self.cache_dir = (self.cache_dir or self.data_dir / "cache").expanduser().resolve()
        if self.chunk.overlap >= self.chunk.tokens:
            raise ValueError("chunk.overlap must be smaller than chunk.tokens")
        return self
