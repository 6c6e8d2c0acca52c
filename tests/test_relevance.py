"""Per-paper relevance: key terms, their coverage, the field test, and whether an abstract
states what a question asks of a named paper. Real model, real default collection."""

from __future__ import annotations

import numpy as np
import pytest

from rag.decide import not_stated
from rag.keyword import tokenize
from rag.relevance import (
    QUANTITY,
    found,
    key_terms,
    rarity_weights,
    statement_support,
    term_coverage,
)

OVEROPTIMIZATION = {
    "Reward Model Ensembles Help Mitigate Overoptimization",
    "Provably Mitigating Overoptimization in RLHF: Your SFT Loss is Implicitly an Adversarial"
    " Regularizer",
}


def test_key_terms_drop_function_and_question_words():
    assert key_terms("Which papers study reward overoptimization?") == ["reward", "overoptim"]
    assert key_terms("How much did it improve over the base models?") == ["improv", "base"]
    assert key_terms("What is the main finding of the paper?") == []


def test_stems_of_near_length_sharing_five_letters_match_but_a_longer_name_does_not():
    assert found("accur", {"accuraci"}) and found("reward", {"reward"})
    assert not found("ego2actjudg", {"ego2act"})  # another, shorter name
    assert not found("bandit", {"band"})


def test_coverage_weighs_rare_terms_and_breadth_leaves_out_the_heaviest():
    frequency = {"protein": 0, "structur": 5, "learn": 40}.get
    weights = rarity_weights(["protein", "structur", "learn"], frequency, 59)
    assert weights["protein"] > weights["structur"] > weights["learn"] > 0
    tokens = set(tokenize(["We learn the structure of graphs."])[0])
    share = (weights["structur"] + weights["learn"]) / sum(weights.values())
    assert term_coverage(weights, tokens) == pytest.approx(share)
    assert term_coverage(weights, tokens, but_heaviest=True) == pytest.approx(
        weights["learn"] / sum(weights.values())
    )


def test_quantities_are_numbers_not_digits_inside_names():
    assert [m.group() for m in QUANTITY.finditer("GPT-4, Deepseek-R1, Qwen2.5, 0/1 rewards")] == []
    assert [m.group() for m in QUANTITY.finditer("by 47%, 3.4times, a 201M model, 12 steps")] == [
        "47%",
        "3.4times",
        "201M",
        "12",
    ]


def assess_question(chat, question: str):
    state = chat.chain.prepare(question, None, "extractive")
    return state, sorted(state.relevance, key=lambda r: -r.probability)


def test_papers_on_the_topic_are_likely_and_the_rest_are_not(default_chat):
    threshold = default_chat.settings.answer.min_relevance
    _, ranked = assess_question(default_chat, "Which papers address reward overoptimization?")
    likely = {r.source.hit.title for r in ranked if r.probability >= threshold}
    assert likely == OVEROPTIMIZATION
    assert all(0 <= r.probability <= 1 for r in ranked)


def test_a_question_from_another_field_is_far_from_the_collection(default_chat):
    minimum = default_chat.settings.answer.min_domain
    _, on_topic = assess_question(default_chat, "Which papers speed up diffusion sampling?")
    state, off_field = assess_question(
        default_chat, "How do power transformers in electrical substations overheat?"
    )
    assert on_topic[0].domain > 0.4 > minimum > off_field[0].domain
    assert state.relevant == []  # abstains, though "transformers" is in many abstracts


def test_a_fact_the_abstract_does_not_state_is_told_apart(default_chat):
    settings = default_chat.settings.answer
    frequency, papers = default_chat.keyword.paper_frequency, default_chat.keyword.paper_count

    def judged(question: str) -> bool:
        state = default_chat.chain.prepare(question, None, "extractive")
        (lyra,) = state.named
        return not_stated(question, state.question_vector, lyra, frequency, papers, settings)

    assert not judged("What accuracy does Lyra reach on miniF2F?")
    assert judged("Which GPU cluster was Lyra trained on?")
    assert judged("How many GPUs did Lyra use?")  # a number asked, none given about GPUs


def test_statement_support_of_a_question_that_only_names_the_paper(default_chat):
    state = default_chat.chain.prepare("What is Lyra?", None, "extractive")
    (lyra,) = state.named
    support = statement_support(
        "What is Lyra?",
        state.question_vector,
        lyra,
        default_chat.keyword.paper_frequency,
        default_chat.keyword.paper_count,
    )
    assert support.share == 1.0 and support.number_share == 1.0
    assert 0 < support.similarity <= 1
    assert isinstance(state.question_vector, np.ndarray)
