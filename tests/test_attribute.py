"""Attribution of a model's sentences to the sources (rag/attribute.py), on the default
collection's real abstracts and embeddings."""

from __future__ import annotations

import pytest

from rag.attribute import LOOP_REPEATS, Attributor, attribution_notice, cite_at_end, figures, names

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
    assert figures("Paper 1: a 5x speedup, 42% and 3.5 points on 128 GPUs") == {
        "5",
        "42",
        "35",
        "128",
    }
    assert names("SAF beats SAM on CIFAR-100 with LLMs and Qwen2-7B.") == {
        "SAF",
        "SAM",
        "CIFAR-100",
        "LLM",
        "Qwen2-7B",
    }
    assert cite_at_end("It works.", 3) == "It works [3]."
    assert cite_at_end("It works", 3) == "It works [3]"
