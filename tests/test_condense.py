"""Follow-ups: which papers a question refers to, from the conversation alone."""

from __future__ import annotations

import pytest

from rag.condense import condense_offline, is_follow_up, mentioned, referents

TITLES = [
    "MemFold: Learning Compact Soft Memory for Long-Context Personalization",
    "Benchmarking and Enhancing Skill-Level Memory for Robotic Manipulation",
    "Video Generation Models: A Survey of Post-Training and Alignment",
    "VTR-Bench: A Systematic Benchmark for Visual Text Rendering",
]
LIST_TURN = [
    {"role": "user", "content": "Which papers are about video generation?"},
    {
        "role": "assistant",
        "content": f"1. **{TITLES[2]}** [1] reviews. 2. **{TITLES[3]}** [2] tests text.",
    },
]
TWO_THEN_ONE = [
    {"role": "user", "content": "Which papers give models memory?"},
    {"role": "assistant", "content": f"**{TITLES[0]}** [1] and **{TITLES[1]}** [2]."},
    {"role": "user", "content": "What was the first one evaluated on?"},
    {"role": "assistant", "content": "MemFold is evaluated on PersonaMem [1]."},
]


def test_titles_are_found_in_full_or_by_their_head_in_the_order_named():
    text = f"VTR-Bench [1] extends **{TITLES[2]}**; MemFold too."
    assert mentioned(text, TITLES) == [TITLES[3], TITLES[2], TITLES[0]]
    assert mentioned("video generation models are popular", TITLES) == []  # not as written


def test_ordinals_pick_from_the_last_list():
    assert referents("What does the second one find?", LIST_TURN, TITLES) == [TITLES[3]]
    assert referents("And the first?", LIST_TURN, TITLES) == [TITLES[2]]
    assert referents("What about the last one?", LIST_TURN, TITLES) == [TITLES[3]]


def frequency(term: str) -> int:
    """In how many papers of a small collection a term occurs: "mend" in one."""
    return {"mend": 1, "memori": 3, "video": 2}.get(term, 0)


def test_the_other_one_is_named_before_but_not_in_the_last_answer():
    assert is_follow_up("And the other one?", TWO_THEN_ONE, TITLES, frequency)
    assert referents("And the other one?", TWO_THEN_ONE, TITLES) == [TITLES[1]]


@pytest.mark.parametrize(
    "question",
    ["How long does it take to train?", "which one uses real robots?", "and the second?"],
)
def test_a_question_that_leans_on_the_conversation_is_a_follow_up(question):
    assert is_follow_up(question, LIST_TURN, TITLES, frequency)


@pytest.mark.parametrize(
    "question",
    ["What is MEND?", "Which papers study reward overoptimization in RLHF?"],
)
def test_a_new_question_after_others_is_not_a_follow_up(question):
    """However short: "What is MEND?" after a list on video names a paper of its own."""
    assert not is_follow_up(question, LIST_TURN, TITLES, frequency)
    assert not is_follow_up(question, [], TITLES, frequency)


def test_it_is_the_first_paper_of_the_last_answer_and_both_is_all_of_them():
    assert referents("How fast is it?", LIST_TURN, TITLES) == [TITLES[2]]
    assert referents("What do both evaluate on?", LIST_TURN, TITLES) == TITLES[2:]
    assert referents("Which datasets did they evaluate it on?", LIST_TURN, TITLES) == [TITLES[2]]


def test_a_follow_up_carries_the_subject_of_the_last_turn():
    follow_up = condense_offline("What does the second one find?", LIST_TURN, TITLES)
    assert TITLES[3] in follow_up and "video" in follow_up and TITLES[2] not in follow_up
