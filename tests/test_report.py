"""The report's text: Markdown tables that survive a ``|``, inline code as ``<code>``, and the
Persian page (``jaxgd reproduce --lang fa``). Plain string checks; the page in a real browser
is tests/test_report_browser.py."""

from __future__ import annotations

import re

import pytest

from experiments import reproduce
from jaxgd import report
from jaxgd._report_text import EN, FA, FA_TITLES, FA_TOPICS

PERSIAN = re.compile("[\u0600-\u06ff]")


def summaries():
    """Two experiments' summaries as experiments write them (no figures: the browser test
    has those)."""
    return [
        {
            "name": "four-rates",
            "title": "The notes' four learning rates",
            "topics": "topics 5–6: rates 0.1, 0.3, 0.8, 0.9",
            "paragraphs": ["The factor `1 - lr * f''` decides; see `jax.grad`."],
            "tables": [
                "| rate | `\\|x_t\\|` |\n|---|---|\n| 0.1 | \\|x\\| shrinks |",
                "```\nprint(`raw`)\n```",
            ],
            "figures": [],
            "claims": [
                {
                    "statement": "plain GD: starts on the plateau (|x₀| > 4) stall",
                    "measured": "|x| = 4.5",
                    "expected": "`|x| > 4`",
                    "passed": True,
                },
                {"statement": "a failing one", "measured": "1", "expected": "0", "passed": False},
            ],
            "passed": False,
        },
        {
            "name": "not-translated",
            "title": "An experiment without a Persian heading",
            "topics": "course: breast cancer",
            "paragraphs": [],
            "tables": [],
            "figures": [],
            "claims": [],
            "passed": True,
        },
    ]


def unescaped_cells(row: str) -> list[str]:
    """The cells of a Markdown table row as GitHub splits it (on ``|`` not preceded by ``\\``)."""
    return re.split(r"(?<!\\)\|", row.strip())[1:-1]


def claim_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| plain GD")]


def test_a_bar_in_a_claim_does_not_break_the_markdown_table(tmp_path):
    text = report.write_report(tmp_path, summaries()).read_text()
    [row] = claim_rows(text)
    assert row == (
        "| plain GD: starts on the plateau (\\|x₀\\| > 4) stall | \\|x\\| = 4.5 "
        "| `\\|x\\| > 4` | PASS |"
    )
    assert len(unescaped_cells(row)) == 4
    assert "| a failing one | 1 | 0 | **FAIL** |" in text


def test_the_html_shows_inline_code_as_code_and_no_backticks(tmp_path):
    page = report.write_html(tmp_path, summaries()).read_text()
    assert "<code>1 - lr * f''</code>" in page
    assert "<code>jax.grad</code>" in page
    assert "<td><code>|x| &gt; 4</code></td>" in page
    assert "`" not in page.replace("<pre>print(`raw`)</pre>", "")
    assert "<pre>print(`raw`)</pre>" in page, "a fenced block is shown as it is"


def test_an_escaped_bar_in_an_experiment_table_stays_in_its_cell(tmp_path):
    page = report.write_html(tmp_path, summaries()).read_text()
    assert "<tr><th>rate</th><th><code>|x_t|</code></th></tr>" in page
    assert "<tr><td>0.1</td><td>|x| shrinks</td></tr>" in page


def test_the_english_page_is_left_to_right_and_unchanged_by_default(tmp_path):
    page = report.write_html(tmp_path, summaries()).read_text()
    assert page.startswith('<!doctype html><html lang="en"><head>')
    assert 'dir="rtl"' not in page and not PERSIAN.search(page)
    assert "1 of 2 checked claims pass." in page
    text = report.write_report(tmp_path, summaries()).read_text()
    assert text.startswith(f"# {EN['title']}\n\n2 experiments, 1 of 2 checked claims pass.")
    assert "## The notes' four learning rates" in text and "*topics 5–6: rates" in text


def test_the_persian_page_is_right_to_left_with_the_notes_topic_names(tmp_path):
    page = report.write_html(tmp_path, summaries(), lang="fa").read_text()
    assert page.startswith('<!doctype html><html lang="fa" dir="rtl"><head>')
    for fixed in ("title", "note", "contents", "topics", "claim", "measured", "expected"):
        assert FA[fixed].split("{")[0].strip() in page, fixed
    assert f'<h2 id="four-rates">{FA_TITLES["four-rates"]}</h2>' in page
    assert f'<li><bdi>5</bdi> — <span dir="rtl">{FA_TOPICS[5]}</span></li>' in page
    assert f'<li><bdi>6</bdi> — <span dir="rtl">{FA_TOPICS[6]}</span></li>' in page
    assert f"{FA['topics']} <bdi>5</bdi>، <bdi>6</bdi>" in page, "the contents list the numbers"
    assert "<bdi>1</bdi> ادعا از <bdi>2</bdi>" in page, "numbers stay left to right"
    assert '<code dir="ltr">jax.grad</code>' in page
    assert f">{FA['PASS']}</td>" in page and f">{FA['FAIL']}</td>" in page
    # the experiments' own English text is marked left to right; its title kept, isolated
    assert '<p dir="ltr" lang="en">The factor' in page
    assert '<td dir="ltr" lang="en">plain GD' in page
    assert '<bdi dir="ltr" lang="en">An experiment without a Persian heading</bdi>' in page
    # no fixed English string is left
    for english in ("checked claims pass", "<th>claim", "<th>verdict", ">PASS<", ">FAIL<"):
        assert english not in page, english


def test_the_persian_markdown_report(tmp_path):
    text = report.write_report(tmp_path, summaries(), lang="fa").read_text()
    assert text.startswith(f"# {FA['title']}\n\n2 آزمایش؛ 1 ادعا از 2")
    assert f"## {FA_TITLES['four-rates']}" in text
    assert f"- 5 — {FA_TOPICS[5]}\n- 6 — {FA_TOPICS[6]}\n" in text
    assert f"| {FA['claim']} | {FA['measured']} | {FA['expected']} | {FA['verdict']} |" in text
    [row] = claim_rows(text)
    assert len(unescaped_cells(row)) == 4


def test_every_fixed_string_topic_and_experiment_has_its_persian_text():
    assert set(FA) == set(EN)
    assert all(PERSIAN.search(text) for key, text in FA.items() if key != "PASS"), FA
    assert set(FA_TOPICS) == set(range(1, 17)), "the 16 topics of SEED.md"
    assert all(PERSIAN.search(name) or name.isascii() for name in FA_TOPICS.values())
    missing = [name for name, _, _ in reproduce.EXPERIMENTS if name not in FA_TITLES]
    assert not missing, f"add a Persian heading to FA_TITLES in jaxgd/_report_text.py: {missing}"


def test_an_unknown_language_is_refused_clearly(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown report language 'de'; choose from en, fa"):
        report.write_html(tmp_path, summaries(), lang="de")
    with pytest.raises(SystemExit) as stop:
        reproduce.main(["--lang", "de"])
    assert stop.value.code == 2
    assert "argument --lang: invalid choice: 'de' (choose from 'en', 'fa')" in (
        capsys.readouterr().err
    )
