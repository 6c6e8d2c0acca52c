"""Per-paper relevance and the decision: key terms, their coverage, refusing another field,
a near miss's closest paper, and whether an abstract states what a question asks of a named
paper. Real embedding model, real learned models, real default collection."""

from __future__ import annotations

import numpy as np
import pytest

from rag import learned
from rag.decide import LIKELY, outcome_features
from rag.extractive import sentence_features
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
    state, ranked = assess_question(default_chat, "Which papers address reward overoptimization?")
    likely = {r.source.hit.title for r in ranked if r.probability >= LIKELY}
    assert likely == OVEROPTIMIZATION
    assert all(0 <= r.probability <= 1 for r in ranked)
    assert state.outcome == "answered"


def test_a_question_from_another_field_is_refused_though_it_shares_a_word(default_chat):
    _, on_topic = assess_question(default_chat, "Which papers speed up diffusion sampling?")
    state, off_field = assess_question(
        default_chat, "How do power transformers in electrical substations overheat?"
    )
    assert on_topic[0].domain > off_field[0].domain
    assert off_field[0].probability < LIKELY  # "transformers" is in many abstracts
    assert state.outcome == "refused" and state.relevant == []


def test_a_near_miss_gets_the_closest_paper_not_an_answer(default_chat):
    """The paper shares the words, not the constraint: its experiments are on language
    models, the question asks for images."""
    question = (
        "Which papers mitigate reward overoptimization when fine-tuning text-to-image"
        " diffusion models?"
    )
    state, ranked = assess_question(default_chat, question)
    assert state.outcome == "closest" and state.extractive == [ranked[0].source]
    answer = default_chat.ask(question)
    assert answer.outcome == "closest" and not answer.abstained
    assert answer.text.startswith(
        f"No paper here says this directly. The closest is **{ranked[0].source.hit.title}**"
    )
    assert [c.title for c in answer.citations] == [ranked[0].source.hit.title]


def test_a_fact_the_abstract_does_not_state_is_told_apart(default_chat):
    def unstated(question: str) -> bool:
        state = default_chat.chain.prepare(question, None, "extractive")
        (lyra,) = state.named
        return state.unstated == [lyra]

    assert not unstated("What accuracy does Lyra reach on miniF2F?")
    assert unstated("Which GPU cluster was Lyra trained on?")
    assert unstated("How many GPUs did Lyra use?")  # a number asked, none given about GPUs


def test_statement_support_of_a_question_that_only_names_the_paper(default_chat):
    state = default_chat.chain.prepare("What is Lyra?", None, "extractive")
    (lyra,) = state.named
    support = statement_support(
        "What is Lyra?",
        state.scoring.vector,
        lyra,
        default_chat.keyword.paper_frequency,
        default_chat.keyword.paper_count,
    )
    assert support.share == 1.0 and support.number_share == 1.0
    assert support.abstract_share == 1.0 and support.missing_rarest == 0.0
    assert 0 < support.similarity <= 1
    assert isinstance(state.scoring.vector, np.ndarray)


def test_the_features_the_code_computes_are_the_models_own(default_chat):
    """Feature names drift from the stored weights only with an error (rag/learned.py): each
    model was trained on exactly what the chain computes now."""
    state = default_chat.chain.prepare("How does MEND edit a model?", None, "extractive")
    assert set(state.relevance[0].features) == set(learned.model("relevance").features)
    assert set(outcome_features(state.relevance, state.named, state.intent)) == set(
        learned.model("outcome").features
    )
    rows = sentence_features(state.question, state.intent, state.scoring, state.named[0])
    assert set(rows[0]) <= set(learned.model("sentences").features)
