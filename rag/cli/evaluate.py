"""`paperchat eval`: question sets answered on a collection, scored against targets."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rag.cli.common import (
    GgufOption,
    app,
    console,
    emit_json,
    errors,
    fail,
    open_chat,
    user_errors,
)

GATES = {  # option name -> (summary metric, comparison)
    "min_recall": ("recall@{k}", ">="),
    "min_mrr": ("mrr", ">="),
    "min_citation_precision": ("citation_precision", ">="),
    "max_invalid_citations": ("invalid_citations", "<="),
    "min_abstention_accuracy": ("abstention_accuracy", ">="),
    "max_false_abstention": ("false_abstention", "<="),
    "min_keyword_hit": ("keyword_hit", ">="),
}


def failed_gates(summary: dict[str, Any], k: int, limits: dict[str, float | None]) -> list[str]:
    failures = []
    for option, limit in limits.items():
        if limit is None:
            continue
        metric, op = GATES[option]
        metric = metric.format(k=k)
        value = summary.get(metric)
        ok = value is not None and (value >= limit if op == ">=" else value <= limit)
        if not ok:
            failures.append(
                f"{metric} = {value if value is None else round(value, 4)}, needs {op} {limit}"
            )
    return failures


@app.command(name="eval")
def eval_command(
    questions: Annotated[list[Path], typer.Argument(help="JSONL question sets (dev, test, ...).")],
    papers: Annotated[
        Path | None,
        typer.Option(help="Evaluate on a fresh collection of this file, not on yours."),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Papers retrieved per question.", min=1)] = 5,
    answerer: Annotated[str, typer.Option(help="extractive or llm.")] = "extractive",
    compare: Annotated[
        str, typer.Option(help="Retrievers side by side: dense, bm25, hybrid.")
    ] = "hybrid",
    out: Annotated[
        Path, typer.Option(help="Folder for results.json, report.md, plots (one per set).")
    ] = Path("eval-results"),
    judge: Annotated[bool, typer.Option(help="Faithfulness, with the LLM as judge.")] = False,
    gguf: GgufOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    min_recall: Annotated[float | None, typer.Option(help="Gate: recall@k at least.")] = None,
    min_mrr: Annotated[float | None, typer.Option(help="Gate: MRR at least.")] = None,
    min_citation_precision: Annotated[float | None, typer.Option(help="Gate.")] = None,
    max_invalid_citations: Annotated[float | None, typer.Option(help="Gate.")] = None,
    min_abstention_accuracy: Annotated[float | None, typer.Option(help="Gate.")] = None,
    max_false_abstention: Annotated[float | None, typer.Option(help="Gate.")] = None,
    min_keyword_hit: Annotated[float | None, typer.Option(help="Gate.")] = None,
) -> None:
    """Score question sets, side by side; exits 1 when a gate is not met (gates apply to the
    last retriever in --compare, on every set)."""
    from rag.eval import evaluate, load_questions, scratch_collection
    from rag.metrics import faithfulness
    from rag.report import write_outputs

    if answerer not in ("extractive", "llm"):
        fail(f"--answerer must be extractive or llm, not {answerer!r}")
    configs = [c.strip() for c in compare.split(",") if c.strip()]
    names = [path.stem for path in questions]
    if len(set(names)) < len(names):
        fail("question sets need different file names: their results go to --out/<name>/")
    results: dict[str, dict[str, Any]] = {}
    with user_errors(), ExitStack() as stack:
        chat = open_chat(gguf)
        if papers is not None:
            errors.print(f"Building a scratch collection from {papers}…", highlight=False)
            chat = stack.enter_context(scratch_collection(papers, chat.settings))
        if judge and chat.llm is None:
            fail("--judge needs a language model: set OPENAI_API_KEY or OPENAI_BASE_URL")
        sets = {
            name: load_questions(path, chat) for name, path in zip(names, questions, strict=True)
        }
        columns = (TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=errors, transient=True, disable=as_json) as bar:
            for name, question_set in sets.items():
                task = bar.add_task(name, total=len(question_set) * len(configs))
                results[name] = evaluate(
                    chat,
                    question_set,
                    k=k,
                    answerer=answerer,
                    configs=configs,
                    judge=(lambda a: faithfulness(a, chat.llm.supports)) if judge else None,
                    progress=lambda done, total, t=task: bar.update(t, completed=done, total=total),
                )
        files = {
            name: write_outputs(result, out / name if len(results) > 1 else out)
            for name, result in results.items()
        }
    limits = {name: value for name, value in locals().items() if name in GATES}
    failures = [
        f"{name}: {failure}" if len(results) > 1 else failure
        for name, result in results.items()
        for failure in failed_gates(result["summary"][configs[-1]], k, limits)
    ]
    if as_json:
        sets = {
            name: {
                "summary": result["summary"],
                "targets": result["targets"],
                "files": [str(f) for f in files[name]],
            }
            for name, result in results.items()
        }
        emit_json({"sets": sets, "gates_failed": failures})
    else:
        console.print(eval_table(results, configs, k, papers))
        console.print(f"Reports, results and plots in {out}/")
    for failure in failures:
        errors.print(f"[bold red]gate failed:[/] {failure}", highlight=False)
    if failures:
        raise typer.Exit(1)


def eval_table(
    results: dict[str, dict[str, Any]], configs: list[str], k: int, papers: Path | None
) -> Table:
    """One column per question set and retriever; each target's mark beside its metric."""
    from rag.eval import TARGETS, summary_metrics

    counts = ", ".join(f"{name} {len(r['records']) // len(configs)}" for name, r in results.items())
    where = f" on {papers.name}" if papers else ""
    table = Table(title=f"Questions{where}: {counts}; k = {k}")
    table.add_column("metric")
    columns = [(name, config) for name in results for config in configs]
    for name, config in columns:
        table.add_column(name if len(configs) == 1 else f"{name} {config}", justify="right")
    table.add_column("target")
    targets = {metric: f"{op} {value}" for metric, op, value in TARGETS}
    for metric in summary_metrics(k):
        values = [results[name]["summary"][config][metric] for name, config in columns]
        if all(v is None for v in values):
            continue
        shown = (
            "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v) for v in values
        )
        table.add_row(metric, *shown, targets.get(metric, ""))
    return table
