"""Hybrid retrieval on the default collection: sanity, fusion, filters and the retriever."""

from __future__ import annotations

import pytest

from rag.load import Paper
from rag.retriever import PaperRetriever
from rag.search import Filters

OVEROPTIMIZATION = {
    "Reward Model Ensembles Help Mitigate Overoptimization",
    "Provably Mitigating Overoptimization in RLHF: Your SFT Loss is Implicitly an Adversarial "
    "Regularizer",
}
SAM_PAPERS = {
    "Sharpness-Aware Training for Free",
    "Unknown Domain Inconsistency Minimization for Domain Generalization",
    "GAQAT: gradient-adaptive quantization-aware training for domain generalization",
}


def titles(hits) -> list[str]:
    return [h.title for h in hits]


def test_reward_overoptimization_papers_lead(default_chat):
    hits = default_chat.search("reward overoptimization", k=5)
    assert set(titles(hits)[:3]) >= OVEROPTIMIZATION
    assert len({h.paper_id for h in hits}) == len(hits) == 5
    assert [h.fused for h in hits] == sorted((h.fused for h in hits), reverse=True)


def test_sharpness_aware_minimization_finds_the_sam_papers(default_chat):
    hits = default_chat.search("sharpness-aware minimization", k=5)
    assert set(titles(hits)) >= SAM_PAPERS
    assert titles(hits)[0] == "Sharpness-Aware Training for Free"


def test_hits_carry_evidence_from_their_own_paper(default_chat):
    for hit in default_chat.search("alternating minimization for matrix completion", k=3):
        chunks = default_chat.store.fetch([hit.chunk_id])
        stored, _ = chunks[hit.chunk_id]
        assert stored.metadata["paper_id"] == hit.paper_id
        assert hit.text and hit.text in stored.text and not hit.text.startswith(hit.title)


def test_scores_are_comparable_across_queries(default_chat):
    relevant = default_chat.search("reward overoptimization in RLHF", k=1)[0].score
    unrelated = default_chat.search("deep learning for protein structure prediction", k=1)[0].score
    nonsense = default_chat.search("recipe for banana bread with walnuts", k=1)[0].score
    assert relevant > 0.5
    assert unrelated < relevant - 0.15
    assert nonsense < 0.25


def test_modes_and_fusion(default_chat):
    dense = default_chat.search("reward overoptimization", k=5, mode="dense")
    keyword = default_chat.search("reward overoptimization", k=5, mode="keyword")
    hybrid = default_chat.search("reward overoptimization", k=5)
    assert all(h.keyword_rank is None for h in dense)
    assert all(h.dense_rank is None for h in keyword)
    assert all(h.dense_rank or h.keyword_rank for h in hybrid)
    # A paper found only by keywords still gets a real cosine score.
    assert all(-1 <= h.score <= 1 for h in keyword)


def test_keyword_only_match_is_found(default_chat):
    hits = default_chat.search("glz17", k=3, mode="keyword")
    assert titles(hits)[0].startswith("Low Rank Matrix Completion")


def test_filters_apply_to_dense_and_keyword(chat):
    chat.ingest(
        [
            Paper(
                title="Old graph paper",
                abstract="Graph neural networks for molecules.",
                authors=("Ada Lovelace",),
                date="2020-01-15",
            ),
            Paper(
                title="New graph paper",
                abstract="Graph neural networks for proteins.",
                authors=("Alan Turing", "Grace Hopper"),
                date="2024-06-01",
            ),
            Paper(title="Undated graph paper", abstract="Graph neural networks for chips."),
        ]
    )
    query = "graph neural networks"
    assert len(chat.search(query, k=10)) == 3
    for mode in ("hybrid", "dense", "keyword"):
        recent = chat.search(query, k=10, filters=Filters(date_from="2023-01-01"), mode=mode)
        assert titles(recent) == ["New graph paper"]
        before = chat.search(query, k=10, filters=Filters(date_to="2020-12-31"), mode=mode)
        assert titles(before) == ["Old graph paper"]
        hopper = chat.search(query, k=10, filters=Filters(author="HOPPER"), mode=mode)
        assert titles(hopper) == ["New graph paper"]
    assert chat.search(query, filters=Filters(author="nobody")) == []
    assert chat.search(query, filters=Filters(source="elsewhere.json")) == []
    with pytest.raises(ValueError, match="ISO date"):
        Filters(date_from="last week")


def test_empty_query_is_rejected(default_chat):
    with pytest.raises(ValueError, match="empty"):
        default_chat.search("   \n ")


def test_huge_query_is_truncated_not_fatal(default_chat):
    hits = default_chat.search("reward overoptimization " * 2000, k=3)
    assert set(titles(hits)[:2]) == OVEROPTIMIZATION


def test_retriever_is_a_langchain_runnable(default_chat):
    retriever = default_chat.retriever(k=2)
    assert isinstance(retriever, PaperRetriever)
    documents = retriever.invoke("reward overoptimization")
    assert {d.metadata["title"] for d in documents} == OVEROPTIMIZATION
    assert all(d.id == d.metadata["paper_id"] for d in documents)
    batch = retriever.batch(["sharpness-aware minimization", "reward overoptimization"])
    assert [len(b) for b in batch] == [2, 2]


def test_a_query_that_is_a_whole_title_finds_that_paper_first(chat):
    topic = "Reward Model Ensembles Help Mitigate Overoptimization"
    on_topic = (
        "Reward model ensembles help mitigate reward overoptimization: an ensemble of reward"
        " models with worst-case optimization mitigates overoptimization in RLHF."
    )
    target = Paper(
        title=f"Torbi: {topic}",
        abstract="We study proxies learned from human labels in sequential decisions.",
    )
    others = [Paper(title=f"{n}: {topic}", abstract=on_topic) for n in ("Karovi", "Talmor")]
    chat.ingest([target, *others])
    assert chat.search(target.title, k=3)[0].title == target.title
    assert chat.search(target.title.lower() + "?", k=3)[0].title == target.title
    # Filters still apply to a title match.
    assert chat.search(target.title, k=3, filters=Filters(date_from="2030-01-01")) == []


@pytest.mark.parametrize("exact_limit", [0, 10_000], ids=["nearest-then-filter", "exact"])
def test_filtered_dense_search_equals_brute_force(chat, monkeypatch, exact_limit):
    from rag import search

    monkeypatch.setattr(search, "EXACT_SEARCH_LIMIT", exact_limit)
    topics = ["reward models", "diffusion sampling", "graph networks", "speech recognition"]
    papers = [
        Paper(
            title=f"Study {i} of {topics[i % 4]}",
            abstract=f"We study {topics[i % 4]} in setting {i}. Results improve by {i}%.",
            date=f"{2020 + i % 5}-0{1 + i % 9}-1{i % 10}",
        )
        for i in range(40)
    ]
    chat.ingest(papers)
    query = "better reward models for alignment"
    filters = Filters(date_from="2023-01-01")
    ids, vectors = chat.store.vectors(chat.keyword.chunk_ids())
    similarity = dict(zip(ids, vectors @ chat.embeddings.embed_one(query), strict=True))
    allowed = {p.paper_id for p in papers if p.date >= "2023-01-01"}
    expected = sorted(
        allowed, key=lambda p: -max(s for c, s in similarity.items() if c.startswith(p))
    )
    hits = chat.search(query, k=5, filters=filters, mode="dense")
    assert [h.paper_id for h in hits] == expected[:5]
