"""Evaluation outputs: results.json, report.md and PNG plots (matplotlib, no display)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rag.eval import ABSTAIN_TYPES, MAX_K, TYPES, summary_metrics


def fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_outputs(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Everything an evaluation produced, in `out_dir`; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / "results.json"
    results.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    report = out_dir / "report.md"
    report.write_text(render_report(result))
    return [results, report, *plot(result, out_dir)]


def render_report(result: dict[str, Any]) -> str:
    k, configs, summary = result["k"], result["configs"], result["summary"]
    metrics = summary_metrics(k)
    parts = [
        "# PaperChat evaluation",
        f"{summary[configs[0]]['questions']} questions, k = {k}, answerer: "
        f"{result['answerer']}, {result['seconds']:.1f} s.",
        "## Metrics by configuration",
        table(["metric", *configs], [[m, *(summary[c][m] for c in configs)] for m in metrics]),
        "## Targets",
    ]
    for config in configs:
        checks = result["targets"][config]
        parts.append(f"**{config}**: {sum(c['passed'] for c in checks)}/{len(checks)} met")
        parts.append(
            table(
                ["metric", "target", "value", "met"],
                [
                    [c["metric"], c["target"], c["value"], "yes" if c["passed"] else "NO"]
                    for c in checks
                ],
            )
        )
    for config in configs:
        by_type = summary[config]["by_type"]
        parts.append(f"## By question type ({config})")
        columns = [
            "questions",
            f"recall@{k}",
            "mrr",
            "citation_precision",
            "keyword_hit",
            "abstained",
            "closest",
            "declined",
        ]
        parts.append(
            table(["type", *columns], [[t, *(by_type[t][c] for c in columns)] for t in by_type])
        )
        latency = summary[config]["latency_ms"]
        parts.append(f"## Latency ({config}), ms")
        parts.append(
            table(["stage", "p50", "p95"], [[s, v["p50"], v["p95"]] for s, v in latency.items()])
        )
    failed = [r for r in result["records"] if r["problems"]]
    parts.append(f"## Questions with problems ({len(failed)})")
    for record in failed:
        parts.append(
            f"- **{record['id']}** ({record['type']}, {record['config']}): {record['question']}"
            f"\n  - {'; '.join(record['problems'])}"
            f"\n  - retrieved: {', '.join(record['retrieved_titles'][:5]) or 'nothing'}"
            f"\n  - cited: {', '.join(record['cited_titles']) or 'nothing'}"
        )
    return "\n\n".join(parts) + "\n"


def plot(result: dict[str, Any], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs, summary, written = result["configs"], result["summary"], []

    figure, axes = plt.subplots(figsize=(6, 4))
    for config in configs:
        curve = [v if v is not None else 0 for v in summary[config]["recall_curve"]]
        axes.plot(range(1, MAX_K + 1), curve, marker="o", label=config)
    axes.set(xlabel="k", ylabel="recall@k", title="Recall@k (answerable questions)", ylim=(0, 1.02))
    axes.legend()
    axes.grid(alpha=0.3)
    written.append(save(figure, out_dir / "recall_at_k.png"))

    k = result["k"]
    present = [t for t in TYPES if any(t in summary[c]["by_type"] for c in configs)]
    figure, axes = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(configs)
    for i, config in enumerate(configs):
        by_type = summary[config]["by_type"]
        values = [
            (
                by_type.get(t, {}).get("declined")
                if t in ABSTAIN_TYPES
                else by_type.get(t, {}).get(f"recall@{k}")
            )
            or 0
            for t in present
        ]
        axes.bar([x + i * width for x in range(len(present))], values, width, label=config)
    axes.set_xticks([x + width * (len(configs) - 1) / 2 for x in range(len(present))], present)
    axes.set(
        ylabel=f"recall@{k} (abstention types: abstention)",
        title="By question type",
        ylim=(0, 1.05),
    )
    axes.legend()
    written.append(save(figure, out_dir / "by_type.png"))

    figure, axes = plt.subplots(figsize=(6, 4))
    for config in configs:
        totals = [
            sum(r["timings"].values()) * 1000 for r in result["records"] if r["config"] == config
        ]
        axes.hist(totals, bins=20, alpha=0.6, label=config)
    axes.set(xlabel="ms per question (all stages)", ylabel="questions", title="Latency")
    axes.legend()
    written.append(save(figure, out_dir / "latency.png"))
    return written


def save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(figure)
    return path
