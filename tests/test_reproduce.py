import json
from pathlib import Path

from jaxgd.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_quick_reproduce_writes_report_figures_and_passing_claims(tmp_path, capsys):
    code = main(["reproduce", "--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    report = (tmp_path / "REPORT.md").read_text()
    summaries = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*/summary.json"))]
    assert {s["name"] for s in summaries} == {
        "gd-linear",
        "learning-rate",
        "four-rates",
        "non-convex",
        "worked-example",
        "gd-variants",
        "optimizers",
        "search",
        "initialisation",
        "feature-scaling",
    }
    assert (tmp_path / "index.html").stat().st_size > 10_000
    for summary in summaries:
        assert summary["claims"], summary["name"]
        assert all(c["passed"] for c in summary["claims"]), summary["name"]
        assert summary["title"] in report
        for figure in summary["figures"]:
            path = tmp_path / summary["name"] / figure["file"]
            assert path.stat().st_size > 10_000, path
            assert f"{summary['name']}/{figure['file']}" in report


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second():
    lines = [line for line in (ROOT / "README.md").read_text().splitlines() if line.strip()]
    fence = lines.index("```bash")
    install_and_run, run_tests = lines[fence + 1], lines[fence + 2]
    assert lines[fence + 3] == "```"
    assert fence <= 2, "the two commands come first"
    assert "pip install" in install_and_run and install_and_run.endswith("jaxgd reproduce")
    assert "pytest" in run_tests
    assert run_tests in (ROOT / ".ci" / "run").read_text()
