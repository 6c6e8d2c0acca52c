"""Attribution of a model's sentences to the sources (rag/attribute.py), on the default
collection's real abstracts and embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.attribute import (
    LOOP_REPEATS,
    MIN_SUPPORT,
    Attributor,
    attribution_notice,
    cite_at_end,
    figures,
    names,
)
from rag.relevance import key_terms

CLAIMS = Path(__file__).resolve().parents[1] / "eval" / "claims" / "default.jsonl"

QUESTION = "Which papers address reward overoptimization?"
ENSEMBLES = "Reward model ensembles help mitigate overoptimization"  # source 1
SFT = "The SFT loss works as an adversarial regularizer against overoptimization"  # source 2


@pytest.fixture(scope="module")
def attributor_for(default_chat):
    chain = default_chat.chain
    decided = chain.prepare(QUESTION, None, "extractive")
    sources = decided.shown[:4]
    assert "Ensembles" in sources[0].hit.title and "SFT Loss" in sources[1].hit.title

    def make() -> Attributor:
        return Attributor(sources, chain.embed, chain.generate.rarity)

    return make


def checked(attributor: Attributor, text: str, pieces: int = 7) -> str:
    """`text` fed in uneven pieces, as a stream arrives."""
    size = max(1, len(text) // pieces)
    shown = "".join(attributor.feed(text[i : i + size]) for i in range(0, len(text), size))
    return shown + attributor.finish()


def test_a_supported_claim_keeps_its_citation(attributor_for):
    attributor = attributor_for()
    assert checked(attributor, f"{ENSEMBLES} [1].") == f"{ENSEMBLES} [1]."
    assert [c.status for c in attributor.claims] == ["cited"]


def test_an_uncited_claim_is_cited_and_a_wrong_citation_moved(attributor_for):
    attributor = attributor_for()
    text = f"{ENSEMBLES}. {SFT} [1]."
    assert checked(attributor, text) == f"{ENSEMBLES} [1]. {SFT} [2]."
    assert [(c.status, c.source) for c in attributor.claims] == [("added", 1), ("moved", 2)]
    assert attribution_notice(attributor.claims) == (
        "Each sentence of the model's answer was checked against the sources: cited 1 that"
        " carried no citation and moved the citation of 1 to the source that supports it."
    )


@pytest.mark.parametrize(
    "invented",
    [
        "Reward model ensembles cut overoptimization by 87% on ImageNet [1].",  # figure, name
        "Reward model ensembles were evaluated on CIFAR-100 image classification [1].",
        "The authors train quadruped robots to climb stairs with model predictive control [1].",
    ],
)
def test_a_claim_no_source_supports_is_left_out(attributor_for, invented):
    attributor = attributor_for()
    assert checked(attributor, f"{invented} {ENSEMBLES} [1].") == f"{ENSEMBLES} [1]."
    assert [c.status for c in attributor.claims] == ["unsupported", "cited"]


def test_bare_markers_and_repeats_are_left_out_and_a_loop_is_seen(attributor_for):
    attributor = attributor_for()
    text = "[1]\n" + f"{ENSEMBLES} [1].\n" * 5
    shown = checked(attributor, text)
    assert shown.count(ENSEMBLES) == 1
    assert attributor.looping and sum(c.status == "repeated" for c in attributor.claims) >= (
        LOOP_REPEATS
    )


def test_lines_without_claims_wait_for_a_supported_one(attributor_for):
    attributor = attributor_for()
    assert attributor.feed("Two papers do:\n") == ""  # held: the answer may have no claim
    assert attributor.finish() == "" and not attributor.supported
    attributor = attributor_for()
    shown = checked(attributor, f"Two papers do:\n- **Ensembles**: {ENSEMBLES} [1].")
    assert shown == f"Two papers do:\n- **Ensembles**: {ENSEMBLES} [1]."


def test_a_citation_after_the_full_stop_stays_with_its_sentence(attributor_for):
    attributor = attributor_for()
    shown = checked(attributor, f"{ENSEMBLES}. [1] {SFT}. [2]", pieces=20)
    assert shown == f"{ENSEMBLES}. [1] {SFT}. [2]"
    assert [c.status for c in attributor.claims] == ["cited", "cited"]


def test_figures_names_and_citation_placement():
    assert figures("Paper 1: a 5x speedup, 42% and 3.5 points on 128 GPUs in 4 steps") == {
        *("5", "42", "35", "128", "4"),
    }
    assert figures("Seven datasets, two baselines; see step 3") == {"7", "2"}
    assert names("SAF beats SAM on CIFAR-100 with LLMs and Qwen2-7B.") == {
        "SAF",
        "SAM",
        "CIFAR-100",
        "LLM",
        "Qwen2-7B",
    }
    assert cite_at_end("It works.", 3) == "It works [3]."
    assert cite_at_end("It works", 3) == "It works [3]"


# A neighbouring paper's finding stated of the paper cited ([1] is the ensembles paper, [2]
# the SFT-loss one): the words are the field's, the names the cited paper's.
MOVED_CLAIMS = [
    "Reward model ensembles act as an adversarial regularizer through the SFT loss [1].",
    "The ensembles paper proposes Regularized Preference Optimization, which adds the SFT loss"
    " to the DPO loss [1].",
    "The SFT loss paper shows that ensemble-based conservative optimization with best-of-n"
    " sampling and PPO mitigates overoptimization [2].",
]


@pytest.mark.parametrize("claim", MOVED_CLAIMS)
def test_a_claim_moved_from_a_neighbouring_paper_is_not_kept_for_the_cited_one(
    attributor_for, claim
):
    attributor = attributor_for()
    cited = int(claim[-3])
    shown = checked(attributor, claim)
    assert f"[{cited}]" not in shown
    assert attributor.claims[0].source != cited


def test_a_small_models_sentence_stands_only_under_the_paper_it_was_asked_about(attributor_for):
    attributor = attributor_for()
    attributor.may_move = False
    text = f"{ENSEMBLES}. The SFT loss acts as an adversarial regularizer."
    assert attributor.checked(text, 1) == f"{ENSEMBLES} [1]."
    assert [c.status for c in attributor.claims] == ["cited", "unsupported"]
    # cut off mid-sentence: the unfinished sentence goes; one that states nothing too
    assert attributor.checked(f"It works. {ENSEMBLES}. The SFT loss is", 1, False) == ""
    assert attributor.checked(f"{ENSEMBLES}. It works well.", 1) == ""  # repeated, no claim


def test_the_method_named_by_one_paper_and_explained_by_another(default_chat):
    """The issue's case: asked how MEND edits a model, SmolLM2 wrote a neighbouring paper's
    idea (an unsupervised reinforcement learning algorithm) cited to the MEND paper."""
    chain = default_chat.chain
    decided = chain.prepare("How does MEND edit a model?", None, "extractive")
    sources = decided.shown[:4]
    assert sources[0].hit.title == "Fast Model Editing at Scale"
    attributor = Attributor(sources, chain.embed, chain.generate.rarity)
    moved = "MEND is a collaborative, unsupervised reinforcement learning algorithm [1]."
    right = "MEND learns to transform the gradient obtained by standard fine-tuning [1]."
    assert checked(attributor, f"{moved} {right}") == right
    assert [c.status for c in attributor.claims] == ["unsupported", "cited"]


def test_most_labelled_moved_claims_are_refused(default_chat):
    """The helper-written claims of eval/claims/default.jsonl that state a neighbour's finding
    of the paper they cite, scored as an answer's claims are: nine in ten are refused."""
    chain = default_chat.chain
    records = [json.loads(line) for line in CLAIMS.read_text().splitlines()]
    moved = [r for r in records if r["kind"] == "moved"]
    refused = 0
    for record in moved:
        decided = chain.prepare(record["question"], None, "extractive")
        cited = next(s for s in decided.candidates if s.hit.title == record["title"])
        sources = [s for s in decided.shown if s.hit.paper_id != cited.hit.paper_id] + [cited]
        attributor = Attributor(sources, chain.embed, chain.generate.rarity)
        text = record["claim"]
        refused += attributor.scores(text, key_terms(text))[cited.number] < MIN_SUPPORT
    assert len(moved) >= 50 and refused >= 0.9 * len(moved)
