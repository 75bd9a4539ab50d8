"""``index.html`` in a real browser: headless Chromium (Debian's ``chromium`` package, which
``.ci/run`` installs) opens the page that :func:`jaxgd.report.write_html` writes for a small
fixture (two experiments, three real PNG figures, a table, inline code, claims), in English
and in Persian, and checks that every image loaded, that the page is not blank and that the
Persian page runs right to left.

How: the page has no script, so the test writes a copy of it with a small script that, once
the page has loaded, writes what it measured into an attribute; ``chromium --dump-dom``
prints the DOM, and the test reads the attribute back. A ``--screenshot`` of the page itself
(not the copy) shows that it draws something. Where Chromium is not installed the tests are
skipped, saying so.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import matplotlib.pyplot as plt
import numpy as np
import pytest

from jaxgd._report_text import FA_TITLES, FA_TOPICS
from jaxgd.report import Experiment, write_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

# Run once the page has loaded (images included, loaded or failed): what the test checks.
PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const range = document.createRange();
  range.selectNodeContents(document.querySelector("h1"));
  const h1 = range.getBoundingClientRect();
  const body = document.body.getBoundingClientRect();
  const style = getComputedStyle(document.body);
  document.documentElement.setAttribute("data-probe", JSON.stringify({
    images: images.length,
    loaded: images.filter(i => i.complete && i.naturalWidth > 0).length,
    broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
    drawn: images.filter(i => i.getBoundingClientRect().width > 100).length,
    code: document.querySelectorAll("code").length,
    tables: document.querySelectorAll("table").length,
    text: document.body.innerText.trim().length,
    height: document.body.scrollHeight,
    direction: style.direction,
    h1Left: h1.left - body.left - parseFloat(style.paddingLeft),
    h1Right: body.right - parseFloat(style.paddingRight) - h1.right,
  }));
});
</script>"""


def make_summaries(folder):
    """Two experiments' outputs, written by :class:`jaxgd.report.Experiment` as a real run
    writes them."""
    x = np.linspace(-2, 2, 50)
    first = Experiment(
        "four-rates", folder / "four-rates", title="Four rates", topics="topic 6: four rates"
    )
    for name, rate in (("curves.png", 0.1), ("distance.png", 0.9)):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(x, (1 - rate) ** np.arange(50), label=f"α = {rate}")
        ax.legend()
        first.figure(fig, name, f"|x_t| at rate {rate}; see `jax.grad`")
    first.text("The factor `1 - α·f''` decides: |1 − α·f''| < 1 converges.")
    first.table("| rate | `\\|x_t\\|` |\n|---|---|\n| 0.1 | shrinks |\n| 0.9 | oscillates |")
    first.claim("on the plateau (|x₀| > 4) runs stall", 4.5, "> 4", True)
    second = Experiment(
        "optimizers", folder / "optimizers", title="Optimizers", topics="topics 11–12: Adam"
    )
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.contourf(*np.meshgrid(x, x), np.add.outer(x**2, 3 * x**2), levels=20)
    second.figure(fig, "bowl.png", "an elongated bowl")
    second.claim("Adam reaches the minimum", 1e-7, "< 1e-6", True)
    plt.close("all")
    return [first.finish(), second.finish()]


def chromium(profile, *args):
    """Run headless Chromium with a fresh profile; fail with its messages if it fails."""
    if CHROMIUM is None:
        pytest.skip(
            "Chromium is not installed (Debian: apt-get install chromium; .ci/run installs "
            "it), so the report was not opened in a browser"
        )
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The fixture's page in each language, each in its own folder with the figures."""
    pages = {}
    for lang in ("en", "fa"):
        folder = tmp_path_factory.mktemp(f"report-{lang}")
        pages[lang] = write_html(folder, make_summaries(folder), lang=lang)
    return pages


def probe(page, profile):
    copy = page.with_name("probe.html")
    copy.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = chromium(profile, "--dump-dom", copy.as_uri())
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, f"the probe script did not run; the DOM begins {dom[:500]!r}"
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "fa"])
def test_every_image_loads_and_the_page_has_content(pages, lang, tmp_path):
    measured = probe(pages[lang], tmp_path / "profile")
    assert measured["images"] == 3
    assert measured["loaded"] == 3, f"images that did not load: {measured['broken']}"
    assert measured["drawn"] == 3, "every figure is drawn wider than 100 px"
    assert measured["code"] >= 4 and measured["tables"] == 3
    assert measured["text"] > 500 and measured["height"] > 1000
    assert measured["direction"] == ("rtl" if lang == "fa" else "ltr")
    # the title starts at the right margin of a Persian page, at the left of an English one
    start = measured["h1Right"] if lang == "fa" else measured["h1Left"]
    assert abs(start) < 2, measured


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "fa"])
def test_the_page_draws_text_and_figures(pages, lang, tmp_path):
    shot = tmp_path / "page.png"
    chromium(
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        pages[lang].as_uri(),
    )
    pixels = plt.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1280)
    ink = (pixels < 0.9).any(axis=-1)
    assert 0.02 < ink.mean() < 0.9, "neither blank nor one solid colour"
    codes = (pixels * 255).astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], np.uint32)
    assert len(np.unique(codes)) > 50, "text and figures: many colours"


def test_the_persian_page_names_the_notes_topics(pages):
    page = pages["fa"].read_text()
    assert page.startswith('<!doctype html><html lang="fa" dir="rtl">')
    for text in (FA_TITLES["four-rates"], FA_TOPICS[6], FA_TOPICS[11], FA_TOPICS[12]):
        assert text in page
