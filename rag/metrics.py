"""Evaluation metrics, plain functions of ranked paper ids and of answers, each tested on
hand-made cases. `ranked` is paper ids best first; duplicates count once, at their first
rank."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from rag.answer import EXTRACTIVE, Answer
from rag.split import split_sentences

CITATION = re.compile(r"\[(\d+)\]")


def dedupe(ranked: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ranked))


def recall_at_k(ranked: Sequence[str], gold: set[str], k: int) -> float | None:
    if not gold:
        return None
    return len(set(dedupe(ranked)[:k]) & gold) / len(gold)


def hit_at_k(ranked: Sequence[str], gold: set[str], k: int) -> float | None:
    if not gold:
        return None
    return 1.0 if set(dedupe(ranked)[:k]) & gold else 0.0


def reciprocal_rank(ranked: Sequence[str], gold: set[str]) -> float | None:
    if not gold:
        return None
    return next((1 / rank for rank, p in enumerate(dedupe(ranked), 1) if p in gold), 0.0)


def ndcg_at_k(ranked: Sequence[str], gold: set[str], k: int) -> float | None:
    if not gold:
        return None
    dcg = sum(1 / math.log2(i + 1) for i, p in enumerate(dedupe(ranked)[:k], 1) if p in gold)
    ideal = sum(1 / math.log2(i + 1) for i in range(1, min(len(gold), k) + 1))
    return dcg / ideal


def citation_precision(cited: Sequence[str], gold: set[str]) -> float | None:
    cited_set = set(cited)
    return len(cited_set & gold) / len(cited_set) if cited_set else None


def citation_recall(cited: Sequence[str], gold: set[str]) -> float | None:
    return len(set(cited) & gold) / len(gold) if gold else None


def keyword_hit(text: str, keywords: Sequence[str]) -> float | None:
    if not keywords:
        return None
    lowered = text.casefold()
    return sum(1 for k in keywords if k.casefold() in lowered) / len(keywords)


def invalid_citations(answer: Answer) -> int:
    """`[n]` with no citation behind it, plus citations of papers that were not retrieved."""
    numbers = {c.number for c in answer.citations}
    dangling = {int(n) for n in CITATION.findall(answer.text)} - numbers
    retrieved = {h.paper_id for h in answer.sources}
    return len(dangling) + sum(1 for c in answer.citations if c.paper_id not in retrieved)


def faithfulness(answer: Answer, supports: Callable[[str, str], bool]) -> float | None:
    """The share of the answer's cited claims that their quotes support, LLM as judge."""
    quotes = {c.number: c.quote for c in answer.citations}
    claims = [s for s in split_sentences(answer.text.replace("\n", " ")) if CITATION.search(s)]
    if not claims:
        return None
    supported = 0
    for claim in claims:
        evidence = " ".join(quotes.get(int(n), "") for n in CITATION.findall(claim))
        supported += supports(CITATION.sub("", claim).replace("*", "").strip(), evidence)
    return supported / len(claims)


def claim_shares(answer: Answer) -> dict[str, float | None]:
    """For an answer the LLM wrote (or failed to): the share of its claim sentences that
    carried a citation, that their own citation supports, and that the answer kept
    (attributed, rag/attribute.py); and whether it fell back. None for offline answers."""
    model_wrote = answer.answerer != EXTRACTIVE or answer.fell_back
    claims = [c for c in answer.claims if c.status != "repeated"]
    shares: dict[str, float | None] = dict.fromkeys(
        ("claims_cited", "claims_supported", "claims_kept")
    )
    if claims:
        shares = {
            "claims_cited": sum(bool(c.cited) for c in claims) / len(claims),
            "claims_supported": sum(c.status == "cited" for c in claims) / len(claims),
            "claims_kept": sum(c.source is not None for c in claims) / len(claims),
        }
    return shares | {"fell_back": float(answer.fell_back) if model_wrote else None}


def mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0
