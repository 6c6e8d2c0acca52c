"""Evaluation: every metric on hand-made cases, the question loader, and `paperchat eval`."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter

import pytest
from conftest import DEFAULT_COLLECTION, HF_JSON, ROOT
from fake_openai import FakeOpenAI, Reply

from rag.answer import Answer, Citation, Claim
from rag.eval import (
    EARLIER_TYPES,
    EXPECTED,
    TYPES,
    EvalError,
    evaluate,
    held_out,
    load_questions,
    normalize,
)
from rag.load import load_file
from rag.metrics import (
    citation_precision,
    citation_recall,
    claim_shares,
    faithfulness,
    hit_at_k,
    invalid_citations,
    keyword_hit,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
)
from rag.search import Hit

GOLD = {"a", "b"}


def test_recall_hit_mrr_ndcg_on_perfect_empty_partial_and_duplicate_rankings():
    assert recall_at_k(["a", "b", "c"], GOLD, 2) == 1.0
    assert recall_at_k([], GOLD, 5) == 0.0
    assert recall_at_k(["c", "a", "d"], GOLD, 2) == 0.5
    assert recall_at_k(["a", "a", "a", "b"], GOLD, 2) == 1.0  # duplicates count once
    assert recall_at_k(["a"], set(), 5) is None  # nothing to recall: not scored
    assert hit_at_k(["c", "d", "b"], GOLD, 2) == 0.0 and hit_at_k(["c", "b"], GOLD, 2) == 1.0
    assert reciprocal_rank(["c", "d", "b"], GOLD) == pytest.approx(1 / 3)
    assert reciprocal_rank(["c", "c", "b"], GOLD) == 0.5
    assert reciprocal_rank([], GOLD) == 0.0
    assert ndcg_at_k(["a", "b"], GOLD, 5) == 1.0
    assert ndcg_at_k(["c", "a"], GOLD, 5) == pytest.approx(
        (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    )
    assert ndcg_at_k(["a", "a", "b"], GOLD, 2) == 1.0
    assert ndcg_at_k([], GOLD, 5) == 0.0


def test_citation_and_keyword_metrics():
    assert citation_precision(["a", "b"], GOLD) == 1.0
    assert citation_precision(["a", "c"], GOLD) == 0.5
    assert citation_precision(["a", "a", "c"], GOLD) == 0.5
    assert citation_precision([], GOLD) is None
    assert citation_recall(["a"], GOLD) == 0.5 and citation_recall([], GOLD) == 0.0
    assert keyword_hit("Reaches 55.3% on MiniF2F", ["55.3%", "minif2f"]) == 1.0
    assert keyword_hit("nothing", ["x", "y"]) == 0.0
    assert keyword_hit("anything", []) is None


def answer(text: str, cited: list[str], retrieved: list[str]) -> Answer:
    citations = [Citation(i, p, p, "", f"quote {p}.", 0.5) for i, p in enumerate(cited, 1)]
    hits = [Hit(paper_id=p, title=p, score=0.5, text="") for p in retrieved]
    return Answer("q", text, citations, False, "extractive", {}, sources=hits)


def test_invalid_citations_count_dangling_numbers_and_unretrieved_papers():
    assert invalid_citations(answer("A [1]. B [2].", ["a", "b"], ["a", "b"])) == 0
    assert invalid_citations(answer("A [1]. B [3].", ["a"], ["a"])) == 1
    assert invalid_citations(answer("A [1].", ["z"], ["a"])) == 1


def test_faithfulness_counts_supported_claims():
    verdicts = iter([True, False])
    result = faithfulness(
        answer("First claim [1]. Second claim [2].", ["a", "b"], ["a", "b"]),
        lambda claim, evidence: next(verdicts),
    )
    assert result == 0.5
    assert faithfulness(answer("No citations here.", [], []), lambda c, e: True) is None


def test_question_loader_resolves_titles_and_names_what_is_wrong(default_chat, tmp_path):
    good = tmp_path / "q.jsonl"
    good.write_text(
        json.dumps(
            {
                "question": "Which papers address reward overoptimization?",
                "gold_titles": ["  reward model ensembles help MITIGATE overoptimization "],
            }
        )
        + "\n\n"
        + json.dumps({"question": "Recipe?", "gold_titles": []})
        + "\n"
    )
    first, second = load_questions(good, default_chat)
    assert len(first.gold_ids) == 1 and second.type == "unanswerable"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "x", "gold_titles": ["A Paper That Is Not There"]}))
    with pytest.raises(EvalError, match="line 1: gold title not in the collection: 'A Paper"):
        load_questions(bad, default_chat)
    bad.write_text('{"question": "x"}\n{oops\n')
    with pytest.raises(EvalError, match="line 2: invalid JSON"):
        load_questions(bad, default_chat)


@pytest.mark.parametrize(("name", "papers"), [("default", DEFAULT_COLLECTION), ("hf", HF_JSON)])
def test_shipped_question_sets_split_dev_and_test_alike(name, papers):
    """Each collection has a dev half (tuned on) and a test half (reported on) with the same
    mix of question types, every gold title in the collection and no question in both."""
    titles = {normalize(p.title) for p in load_file(papers).papers}
    halves = {}
    for half in ("dev", "test"):
        rows = [json.loads(line) for line in (ROOT / "eval" / name / f"{half}.jsonl").open()]
        assert all(normalize(t) in titles for r in rows for t in r["gold_titles"])
        assert all(r["history"] for r in rows if r["type"] == "followup")
        assert all(not r["gold_titles"] for r in rows if r["type"] in ("near_miss", "unanswerable"))
        halves[half] = rows
    dev, test = halves["dev"], halves["test"]
    assert Counter(r["type"] for r in dev) == Counter(r["type"] for r in test)
    assert {r["type"] for r in dev} == EARLIER_TYPES
    assert not {normalize(r["question"]) for r in dev} & {normalize(r["question"]) for r in test}
    assert len(dev) + len(test) >= 75


@pytest.mark.parametrize(("name", "papers"), [("default", DEFAULT_COLLECTION), ("hf", HF_JSON)])
def test_the_bank_is_split_by_paper_and_labelled_from_the_abstracts(name, papers):
    """No question the models are trained on is about a held-out paper; every label names
    real papers, and every answering sentence is one of its paper's own."""
    abstracts = {normalize(p.title): p.abstract for p in load_file(papers).papers}
    held = {t for t in abstracts if held_out(t)}
    assert 0.1 < len(held) / len(abstracts) < 0.35
    halves = {}
    for half in ("train", "heldout"):
        path = ROOT / "eval" / "bank" / name / f"{half}.jsonl"
        halves[half] = [json.loads(line) for line in path.open()]
        for row in halves[half]:
            assert row["type"] in TYPES and row["expected"] in EXPECTED
            titles = [normalize(t) for t in row["gold_titles"] + [row.get("near_title") or ""] if t]
            assert all(t in abstracts for t in titles), row["id"]
            for title, sentences in row.get("answer_sentences", {}).items():
                assert all(s in abstracts[normalize(title)] for s in sentences), row["id"]
            if half == "train":
                said = " ".join(m["content"] for m in row.get("history", []))
                named = [t for t in held if t in normalize(said)]
                assert not (set(titles) & held) and not named, row["id"]
    assert len(halves["train"]) > 2 * len(halves["heldout"]) > 200
    ids = [r["id"] for rows in halves.values() for r in rows]
    assert len(ids) == len(set(ids))


def test_judge_through_the_llm_endpoint(default_chat):
    from rag.api import PaperChat

    with FakeOpenAI() as fake:
        fake.default = Reply(text="yes")
        settings = default_chat.settings.model_copy(update={"openai_base_url": fake.url})
        chat = PaperChat(settings)
        chat.__dict__.update(
            store=default_chat.store,
            keyword=default_chat.keyword,
            embeddings=default_chat.embeddings,
        )
        questions = load_questions(ROOT / "eval" / "default" / "dev.jsonl", chat)[:1]
        result = evaluate(chat, questions, judge=lambda a: faithfulness(a, chat.llm.supports))
    assert result["summary"]["hybrid"]["faithfulness"] == 1.0
    assert (
        "Does the evidence fully support the claim?" in fake.requests[0]["messages"][0]["content"]
    )


SMALL_SET = [
    {
        "id": "t1",
        "question": "Which papers address reward overoptimization?",
        "type": "topic",
        "gold_titles": [
            "Reward Model Ensembles Help Mitigate Overoptimization",
            "Provably Mitigating Overoptimization in RLHF: Your SFT Loss is Implicitly "
            "an Adversarial Regularizer",
        ],
        "answer_keywords": ["overoptimization"],
    },
    {
        "id": "f1",
        "question": "What accuracy does Lyra reach on miniF2F?",
        "type": "fact",
        "gold_titles": ["Lyra: Orchestrating Dual Correction in Automated Theorem Proving"],
        "answer_keywords": ["55.3%"],
    },
    {
        "id": "n1",
        "question": "What is MEND?",
        "type": "title",
        "gold_titles": ["Fast Model Editing at Scale"],
    },
    {
        "id": "m1",
        "question": "Compare Adaptive Guidance and DualFast",
        "type": "multi",
        "gold_titles": [
            "Adaptive Guidance: Training-free Acceleration of Conditional Diffusion Models",
            "DualFast: Dual-Speedup Framework for Fast Sampling of Diffusion Models",
        ],
    },
    {
        "id": "u1",
        "question": "Which papers study protein folding?",
        "type": "unanswerable",
        "gold_titles": [],
    },
    {
        "id": "fu1",
        "question": "How long does it take to train?",
        "type": "followup",
        "gold_titles": ["Fast Model Editing at Scale"],
        "answer_keywords": ["less than a day"],
        "history": [
            {"role": "user", "content": "What is MEND?"},
            {"role": "assistant", "content": "**Fast Model Editing at Scale**: MEND [1]."},
        ],
    },
]


@pytest.mark.slow
def test_paperchat_eval_end_to_end(tmp_path, cache_dir, prepared):
    questions = tmp_path / "six.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in SMALL_SET))
    env = {
        **os.environ,
        "PAPERCHAT_DATA_DIR": str(tmp_path / "data"),
        "PAPERCHAT_CACHE_DIR": str(cache_dir),
    }

    def paperchat(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "rag", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )

    prepared("default", tmp_path / "data")
    out = tmp_path / "out"
    run = paperchat(
        "eval",
        str(questions),
        "--compare",
        "dense,bm25,hybrid",
        "--out",
        str(out),
        "--json",
        "--min-recall",
        "0.9",
    )
    assert run.returncode == 0, run.stderr
    printed = json.loads(run.stdout)
    assert printed["gates_failed"] == []
    assert {p.split("/")[-1] for p in printed["sets"]["six"]["files"]} == {
        "results.json",
        "report.md",
        "recall_at_k.png",
        "by_type.png",
        "latency.png",
    }

    results = json.loads((out / "results.json").read_text())
    assert results["configs"] == ["dense", "bm25", "hybrid"]
    assert len(results["records"]) == 18
    record = next(r for r in results["records"] if r["id"] == "f1" and r["config"] == "hybrid")
    assert record["cited_titles"] == SMALL_SET[1]["gold_titles"]
    assert record["metrics"]["keyword_hit"] == 1.0 and "55.3%" in record["answer"]
    assert set(record["timings"]) == {"condense", "retrieve", "decide", "generate", "verify"}
    hybrid = results["summary"]["hybrid"]
    assert hybrid["abstention_accuracy"] == 1.0 and hybrid["invalid_citations"] == 0
    assert hybrid["recall@5"] == 1.0 and hybrid["mrr"] == 1.0
    report = (out / "report.md").read_text()
    assert "## Metrics by configuration" in report and "| mrr |" in report
    assert "## Questions with problems" in report
    for plot in ("recall_at_k.png", "by_type.png", "latency.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    gated = paperchat("eval", str(questions), "--out", str(out), "--min-recall", "1.01")
    assert gated.returncode == 1
    assert "gate failed: recall@5 = 1.0, needs >= 1.01" in " ".join(gated.stderr.split())
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"question": "x", "gold_titles": ["No Such Paper"]}) + "\n")
    missing = paperchat("eval", str(broken), "--out", str(out))
    assert missing.returncode == 2 and "No Such Paper" in missing.stderr


@pytest.mark.slow
def test_eval_on_a_scratch_collection_puts_sets_side_by_side_and_leaves_yours_alone(
    tmp_path, cache_dir
):
    dev = write_set(tmp_path / "dev.jsonl", SMALL_SET[:3])
    test = write_set(tmp_path / "test.jsonl", SMALL_SET[3:])
    data = tmp_path / "data"
    env = {**os.environ, "PAPERCHAT_DATA_DIR": str(data), "PAPERCHAT_CACHE_DIR": str(cache_dir)}
    command = [sys.executable, "-m", "rag", "eval", str(dev), str(test)]
    options = ["--papers", str(DEFAULT_COLLECTION), "--out", str(tmp_path / "out")]
    run = subprocess.run(
        [*command, *options], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr
    header = next(line for line in run.stdout.splitlines() if "metric" in line)
    assert header.index("dev") < header.index("test") < header.index("target")
    assert "Questions on daily_papers.txt: dev 3, test 3" in " ".join(run.stdout.split())
    for name in ("dev", "test"):
        assert (tmp_path / "out" / name / "report.md").exists()
    assert not (data / "chroma").exists()  # the scratch collection was not the user's
    as_json = subprocess.run(
        [*command, *options, "--json"], env=env, capture_output=True, text=True, timeout=600
    )
    sets = json.loads(as_json.stdout)["sets"]
    assert sets["dev"]["summary"]["hybrid"]["questions"] == 3 and set(sets) == {"dev", "test"}


def write_set(path, rows: list[dict]):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_claim_shares_of_an_llm_answer():
    claims = [
        Claim("a", [1], 0.9, "cited", 1),
        Claim("b", [], 0.0, "added", 2),
        Claim("c", [2], 0.1, "moved", 1),
        Claim("d", [1], 0.2, "unsupported"),
        Claim("d", [], 0.0, "repeated"),  # not counted
    ]
    answer = Answer("q", "a [1]", [], False, "some-model", {}, claims=claims)
    assert claim_shares(answer) == {
        "claims_cited": 0.75,
        "claims_supported": 0.25,
        "claims_kept": 0.75,
        "fell_back": 0.0,
    }
    offline = Answer("q", "x", [], False, "extractive", {})
    assert set(claim_shares(offline).values()) == {None}
    failed = Answer("q", "x", [], False, "extractive", {}, fell_back=True)
    assert claim_shares(failed)["fell_back"] == 1.0
