"""What a question asks for, by the intent model, on phrasings written for this test (none
is in the bank it was trained on)."""

from __future__ import annotations

import pytest

from rag.intent import intent_of

ASKED = [
    ("Which papers use contrastive learning?", "list"),
    ("any work on protein design??", "list"),
    ("Is there a paper about speeding up diffusion sampling?", "list"),
    ("What is Lyra?", "define"),
    ("what's mend", "define"),
    ("How does MEND edit a model so quickly?", "mechanism"),
    ("how do they train the router in that moe paper", "mechanism"),
    ("What did the grokking paper find about softmax?", "result"),
    ("How many GPUs did they use?", "quantity"),
    ("By how much does DualFast cut the sampling steps?", "quantity"),
    ("Which dataset does SequenceMatch evaluate on?", "detail"),
    ("Summarize the paper on emergent misalignment", "summary"),
    ("tl;dr of the Lyra paper", "summary"),
    ("Compare MEND and ROME", "compare"),
]


@pytest.mark.parametrize(("question", "intent"), ASKED)
def test_the_intent_of_a_new_phrasing(question, intent):
    assert intent_of(question) == intent
