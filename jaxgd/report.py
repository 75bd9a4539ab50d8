"""Experiment bookkeeping: figures, checked claims, and the report that gathers them.

Each experiment writes into its own folder ``<results>/<name>/``: its figures,
its data (CSV/JSON) and ``summary.json`` (title, topic, explanation, figures,
claims). A claim is one checked statement: the measured value, what was
expected, and PASS or FAIL. :func:`write_report` turns the summaries into
``REPORT.md`` and :func:`write_html` into ``index.html``, in English or, with
``lang="fa"``, in Persian (right to left; the strings are in ``jaxgd._report_text``).
Experiments write Markdown: a ``|`` inside a table cell is written ``\\|``, and
`inline code` becomes ``<code>`` in the page.

Wall-clock times depend on the machine and its load, so no claim's verdict may
read one: an experiment times things only through :func:`median_seconds`, for
information, and a test can replace its :data:`clock`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import jax
from matplotlib.figure import Figure

from jaxgd._report_text import LANGUAGES, Texts
from jaxgd.plots import save

__all__ = [
    "LANGUAGES",
    "Claim",
    "Experiment",
    "clock",
    "median_seconds",
    "run_experiment_file",
    "write_html",
    "write_report",
]


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


_CODE = re.compile(r"`([^`]+)`")


def _md_cell(value: Any) -> str:
    """``value`` as the text of one Markdown table cell: ``|`` escaped (also inside inline
    code, where GitHub's tables read ``\\|`` too) and on one line."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _inline(text: str, code_attrs: str = "") -> str:
    """Plain text as HTML: escaped, with Markdown's inline `code` as ``<code>``."""
    return _CODE.sub(rf"<code{code_attrs}>\1</code>", escape(text, quote=False))


def write_report(
    results_dir: str | Path, summaries: Iterable[Mapping[str, Any]], lang: str = "en"
) -> Path:
    """Write ``REPORT.md`` in ``results_dir`` from experiment summaries; return its path.

    ``lang`` is one of :data:`LANGUAGES`: ``"fa"`` writes the report's fixed strings, the
    experiments' headings and the notes' topic names in Persian.
    """
    texts = Texts(lang)
    summaries = list(summaries)
    lines = [f"# {texts['title']}", "", texts.tally(summaries, html=False), ""]
    if texts["note"]:
        lines += [texts["note"], ""]
    for s in summaries:
        numbers = "، ".join(str(n) for n, _ in texts.topics(s))
        topics = f"{texts['topics']} {numbers}" if numbers else s["topics"]
        lines.append(f"- [{texts.title(s) or s['title']}](#{s['name']}) ({topics})")
    for s in summaries:
        lines += ["", f'<a id="{s["name"]}"></a>', f"## {texts.title(s) or s['title']}", ""]
        named = texts.topics(s)
        if named:
            lines += [f"*{texts['topics']}:*", ""]
            lines += [f"- {n} — {name}" for n, name in named]
            lines += ["", f"*({s['topics']})*", ""]
        else:
            lines += [f"*{s['topics']}*", ""]
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
            lines += [_md_claims(s["claims"], texts), ""]
    path = Path(results_dir) / "REPORT.md"
    path.write_text("\n".join(lines))
    return path


def _md_claims(claims: Sequence[Mapping[str, Any]], texts: Texts) -> str:
    """An experiment's claims as a Markdown table."""
    head = [texts[k] for k in ("claim", "measured", "expected", "verdict")]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---|---|"]
    for c in claims:
        verdict = texts["PASS"] if c["passed"] else f"**{texts['FAIL']}**"
        cells = [_md_cell(c[k]) for k in ("statement", "measured", "expected")]
        lines.append("| " + " | ".join([*cells, verdict]) + " |")
    return "\n".join(lines)


_STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:auto;padding:1em;line-height:1.45}"
    "img{max-width:100%}table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:.2em .5em;font-size:90%}.FAIL{color:#b00;"
    "font-weight:bold}.PASS{color:#070}pre{background:#f6f6f6;padding:.5em;overflow:auto}"
    "code{background:#f3f3f3;padding:0 .2em;border-radius:3px;font-size:90%}"
    ".topics ul{margin:.2em 0}.topics small{color:#555}"
)


def write_html(
    results_dir: str | Path, summaries: Iterable[Mapping[str, Any]], lang: str = "en"
) -> Path:
    """Write ``index.html`` in ``results_dir``: the report as one page with its figures.

    ``lang`` is one of :data:`LANGUAGES`; ``"fa"`` writes the page right to left
    (``<html lang="fa" dir="rtl">``) with the fixed strings, the headings and the notes'
    topic names in Persian; the experiments' own text (explanations, captions, tables,
    claims), code and numbers are marked left to right.
    """
    texts = Texts(lang)
    summaries = list(summaries)
    direction = ' dir="rtl"' if texts.rtl else ""
    parts = [
        f'<!doctype html><html lang="{lang}"{direction}><head><meta charset="utf-8">',
        f"<title>{escape(texts['title'])}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{escape(texts['title'])}</h1>",
        f"<p>{texts.tally(summaries, html=True)}</p>",
    ]
    if texts["note"]:
        parts.append(f"<p>{escape(texts['note'])}</p>")
    parts.append(f"<h2>{escape(texts['contents'])}</h2><ul>")
    for s in summaries:
        numbers = "، ".join(f"<bdi>{n}</bdi>" for n, _ in texts.topics(s))
        topics = f"{escape(texts['topics'])} {numbers}" if numbers else ""
        topics = topics or f"<span{texts.en}>{_inline(s['topics'])}</span>"
        parts.append(f'<li><a href="#{s["name"]}">{_html_title(s, texts)}</a> ({topics})</li>')
    parts.append("</ul>")
    for s in summaries:
        parts += _html_section(s, texts)
    parts.append("</body></html>")
    path = Path(results_dir) / "index.html"
    path.write_text("\n".join(parts))
    return path


def _html_title(s: Mapping[str, Any], texts: Texts) -> str:
    """An experiment's heading: translated, or its own title (isolated left to right)."""
    if texts.title(s):
        return escape(texts.title(s))
    return f"<bdi{texts.en}>{_inline(s['title'])}</bdi>" if texts.rtl else _inline(s["title"])


def _html_section(s: Mapping[str, Any], texts: Texts) -> list[str]:
    """One experiment's part of the page."""
    code = ' dir="ltr"' if texts.rtl else ""
    parts = [f'<h2 id="{s["name"]}">{_html_title(s, texts)}</h2>']
    named = texts.topics(s)
    if named:
        listed = "".join(
            f'<li><bdi>{n}</bdi> — <span dir="rtl">{escape(name)}</span></li>' for n, name in named
        )
        parts.append(
            f'<div class="topics"><b>{escape(texts["topics"])}:</b><ul>{listed}</ul>'
            f"<small{texts.en}>{_inline(s['topics'], code)}</small></div>"
        )
    else:
        parts.append(f"<p{texts.en}><i>{_inline(s['topics'], code)}</i></p>")
    parts += [f"<p{texts.en}>{_inline(p, code)}</p>" for p in s["paragraphs"]]
    for fig in s["figures"]:
        parts.append(
            f'<figure><img src="{escape(s["name"])}/{escape(fig["file"])}" '
            f'alt="{escape(fig["caption"])}">'
            f"<figcaption{texts.en}>{_inline(fig['caption'], code)}</figcaption></figure>"
        )
    parts += [_markdown_block_to_html(t, texts.en) for t in s["tables"]]
    if s["claims"]:
        parts += _html_claims(s["claims"], texts)
    return parts


def _html_claims(claims: Sequence[Mapping[str, Any]], texts: Texts) -> list[str]:
    """An experiment's claims as an HTML table."""
    code = ' dir="ltr"' if texts.rtl else ""
    head = "".join(f"<th>{escape(texts[k])}</th>" for k in ("claim", "measured", "expected"))
    parts = [f"<table><tr>{head}<th>{escape(texts['verdict'])}</th></tr>"]
    for c in claims:
        verdict = "PASS" if c["passed"] else "FAIL"
        cells = "".join(
            f"<td{texts.en}>{_inline(c[k], code)}</td>"
            for k in ("statement", "measured", "expected")
        )
        parts.append(f'<tr>{cells}<td class="{verdict}">{escape(texts[verdict])}</td></tr>')
    parts.append("</table>")
    return parts


def _split_row(line: str) -> list[str]:
    """The cells of one Markdown table row; ``\\|`` is a ``|`` inside a cell."""
    cells = re.split(r"(?<!\\)\|", line.strip())
    if cells and not cells[0].strip():
        cells = cells[1:]
    if cells and not cells[-1].strip():
        cells = cells[:-1]
    return [c.strip().replace("\\|", "|") for c in cells]


def _markdown_block_to_html(text: str, attrs: str = "") -> str:
    """A Markdown table or fenced code block (what experiments pass to ``table``) as HTML;
    ``attrs`` go on the ``<table>`` or ``<pre>`` (the direction of a Persian page's
    English text)."""
    lines = text.strip().splitlines()
    if lines and lines[0].startswith("```"):
        return f"<pre{attrs}>" + escape("\n".join(lines[1:-1]), quote=False) + "</pre>"
    rows = [_split_row(line) for line in lines if not set(line) <= set("|-: ")]
    if not rows:
        return ""
    head, *body = rows
    html = f"<table{attrs}><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>"
    for row in body:
        html += "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
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
