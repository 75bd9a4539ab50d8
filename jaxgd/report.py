"""Experiment bookkeeping: figures, checked claims, and the report that gathers them.

Each experiment writes into its own folder ``<results>/<name>/``: its figures,
its data (CSV/JSON) and ``summary.json`` (title, topic, explanation, figures,
claims). A claim is one checked statement: the measured value, what was
expected, and PASS or FAIL. :func:`write_report` turns the summaries into
``REPORT.md``.

Wall-clock times depend on the machine and its load, so no claim's verdict may
read one: an experiment times things only through :func:`median_seconds`, for
information, and a test can replace its :data:`clock`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import jax
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


# The clock that every timing of the experiments reads (seconds); tests replace it.
clock: Callable[[], float] = time.perf_counter


def median_seconds(call: Callable[[], Any], repeats: int = 5) -> float:
    """The median wall clock of ``repeats`` whole calls of an already compiled ``call``.

    Information only, "measured on this machine, not checked": it depends on the
    machine and its load, so no claim's verdict may depend on it. Each call is
    timed whole (its result waited for) and a reading is never negative: a clock
    that steps back reads 0.
    """
    times = []
    for _ in range(repeats):
        start = clock()
        jax.block_until_ready(call())
        times.append(max(0.0, clock() - start))
    return statistics.median(times)


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


_REPORT_TITLE = "jaxgd: the notes on gradient descent, reproduced"


def _tally(summaries: Sequence[Mapping[str, Any]]) -> str:
    """The report's opening count of experiments and of the claims that pass."""
    n_claims = sum(len(s["claims"]) for s in summaries)
    n_passed = sum(c["passed"] for s in summaries for c in s["claims"])
    return f"{len(summaries)} experiments, {n_passed} of {n_claims} checked claims pass."


def write_report(results_dir: str | Path, summaries: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``REPORT.md`` in ``results_dir`` from experiment summaries; return its path."""
    summaries = list(summaries)
    lines = [f"# {_REPORT_TITLE}", "", _tally(summaries), ""]
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
    path = Path(results_dir) / "REPORT.md"
    path.write_text("\n".join(lines))
    return path


def write_html(results_dir: str | Path, summaries: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``index.html`` in ``results_dir``: the report as one page with its figures."""
    summaries = list(summaries)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{_REPORT_TITLE}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto;padding:1em;line-height:1.45}"
        "img{max-width:100%}table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:.2em .5em;font-size:90%}.FAIL{color:#b00;"
        "font-weight:bold}.PASS{color:#070}pre{background:#f6f6f6;padding:.5em;overflow:auto}"
        "</style></head><body>",
        f"<h1>{_REPORT_TITLE}</h1>",
        f"<p>{_tally(summaries)}</p><ul>",
    ]
    parts += [
        f"<li><a href='#{s['name']}'>{escape(s['title'])}</a> ({escape(s['topics'])})</li>"
        for s in summaries
    ]
    parts.append("</ul>")
    for s in summaries:
        parts.append(
            f"<h2 id='{s['name']}'>{escape(s['title'])}</h2><p><i>{escape(s['topics'])}</i></p>"
        )
        parts += [f"<p>{escape(p)}</p>" for p in s["paragraphs"]]
        for fig in s["figures"]:
            parts.append(
                f"<figure><img src='{s['name']}/{fig['file']}' alt='{escape(fig['caption'])}'>"
                f"<figcaption>{escape(fig['caption'])}</figcaption></figure>"
            )
        parts += [_markdown_block_to_html(t) for t in s["tables"]]
        if s["claims"]:
            parts.append(
                "<table><tr><th>claim</th><th>measured</th><th>expected</th><th>verdict</th></tr>"
            )
            for c in s["claims"]:
                verdict = "PASS" if c["passed"] else "FAIL"
                parts.append(
                    f"<tr><td>{escape(c['statement'])}</td><td>{escape(c['measured'])}</td>"
                    f"<td>{escape(c['expected'])}</td><td class='{verdict}'>{verdict}"
                    "</td></tr>"
                )
            parts.append("</table>")
    parts.append("</body></html>")
    path = Path(results_dir) / "index.html"
    path.write_text("\n".join(parts))
    return path


def _markdown_block_to_html(text: str) -> str:
    """A Markdown table or fenced code block (what experiments pass to ``table``) as HTML."""
    lines = text.strip().splitlines()
    if lines and lines[0].startswith("```"):
        return "<pre>" + escape("\n".join(lines[1:-1])) + "</pre>"
    rows = [line.strip().strip("|").split("|") for line in lines if not set(line) <= set("|-: ")]
    if not rows:
        return ""
    head, *body = rows
    html = "<table><tr>" + "".join(f"<th>{escape(c.strip())}</th>" for c in head) + "</tr>"
    for row in body:
        html += "<tr>" + "".join(f"<td>{escape(c.strip())}</td>" for c in row) + "</tr>"
    return html + "</table>"


def run_experiment_file(
    script: str | Path, out_dir: str | Path, quick: bool = False
) -> tuple[dict[str, Any], str, float]:
    """Load an experiment script by path and call its ``run(out_dir, quick)``.

    Returns ``(summary, printed_output, seconds)``. A module-level function, so
    that a process pool can run experiments side by side.
    """
    import contextlib
    import importlib.util
    import io

    script = Path(script)
    spec = importlib.util.spec_from_file_location(f"jaxgd_experiment_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    printed = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(printed):
        summary = module.run(Path(out_dir), quick=quick)
    return summary, printed.getvalue(), time.perf_counter() - start
