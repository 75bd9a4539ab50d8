"""Experiment bookkeeping: figures, checked claims, and the report that gathers them.

Each experiment writes into its own folder ``<results>/<name>/``: its figures,
its data (CSV/JSON) and ``summary.json`` (title, topic, explanation, figures,
claims). A claim is one checked statement: the measured value, what was
expected, and PASS or FAIL. :func:`write_report` turns the summaries into
``REPORT.md``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from jaxgd.plots import save


@dataclasses.dataclass(frozen=True)
class Claim:
    """One checked statement of an experiment."""

    statement: str
    measured: str
    expected: str
    passed: bool

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return f"[{verdict}] {self.statement}: measured {self.measured}; expected {self.expected}"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return str(value)


class Experiment:
    """Collects one experiment's outputs in ``out_dir`` and writes its ``summary.json``."""

    def __init__(self, name: str, out_dir: str | Path, *, title: str, topics: str) -> None:
        self.name = name
        self.title = title
        self.topics = topics
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.figures: list[dict[str, str]] = []
        self.claims: list[Claim] = []
        self.paragraphs: list[str] = []
        self.tables: list[str] = []

    def figure(self, fig: Figure, filename: str, caption: str) -> Path:
        """Save a figure into the experiment's folder and list it in the report."""
        path = save(fig, self.out_dir / filename)
        self.figures.append({"file": filename, "caption": caption})
        return path

    def claim(self, statement: str, measured: Any, expected: str, passed: bool) -> Claim:
        """Record a checked statement; prints its line."""
        claim = Claim(statement, _fmt(measured), expected, bool(passed))
        self.claims.append(claim)
        print(f"  {claim.line()}")
        return claim

    def text(self, paragraph: str) -> None:
        """A paragraph of explanation tying the results to the notes."""
        self.paragraphs.append(paragraph.strip())

    def table(self, markdown: str) -> None:
        """A Markdown table to show in the report."""
        self.tables.append(markdown.strip())

    def write_json(self, filename: str, data: Any) -> Path:
        path = self.out_dir / filename
        path.write_text(json.dumps(data, indent=2, default=_fmt))
        return path

    def write_csv(self, filename: str, rows: Sequence[Mapping[str, Any]]) -> Path:
        path = self.out_dir / filename
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return path

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.claims)

    def finish(self) -> dict[str, Any]:
        """Write ``summary.json`` and return it."""
        summary = {
            "name": self.name,
            "title": self.title,
            "topics": self.topics,
            "paragraphs": self.paragraphs,
            "tables": self.tables,
            "figures": self.figures,
            "claims": [dataclasses.asdict(c) for c in self.claims],
            "passed": self.passed,
        }
        self.write_json("summary.json", summary)
        return summary


def write_report(results_dir: str | Path, summaries: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``REPORT.md`` in ``results_dir`` from experiment summaries; return its path."""
    results_dir = Path(results_dir)
    summaries = list(summaries)
    n_claims = sum(len(s["claims"]) for s in summaries)
    n_passed = sum(c["passed"] for s in summaries for c in s["claims"])
    lines = [
        "# jaxgd: the notes on gradient descent, reproduced",
        "",
        f"{len(summaries)} experiments, {n_passed} of {n_claims} checked claims pass.",
        "",
    ]
    for s in summaries:
        lines.append(f"- [{s['title']}](#{s['name']}) ({s['topics']})")
    for s in summaries:
        lines += ["", f'<a id="{s["name"]}"></a>', f"## {s['title']}", "", f"*{s['topics']}*", ""]
        for paragraph in s["paragraphs"]:
            lines += [paragraph, ""]
        for fig in s["figures"]:
            lines += [
                f"![{fig['caption']}]({s['name']}/{fig['file']})",
                "",
                f"*{fig['caption']}*",
                "",
            ]
        for table in s["tables"]:
            lines += [table, ""]
        if s["claims"]:
            lines += ["| claim | measured | expected | verdict |", "|---|---|---|---|"]
            for c in s["claims"]:
                verdict = "PASS" if c["passed"] else "**FAIL**"
                lines.append(
                    f"| {c['statement']} | {c['measured']} | {c['expected']} | {verdict} |"
                )
            lines.append("")
    path = results_dir / "REPORT.md"
    path.write_text("\n".join(lines))
    return path
