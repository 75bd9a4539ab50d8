"""The README's two commands (the quick reproduce itself runs from an installed wheel in
test_install.py)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second():
    lines = [line for line in (ROOT / "README.md").read_text().splitlines() if line.strip()]
    fence = lines.index("```bash")
    install_and_run, run_tests = lines[fence + 1], lines[fence + 2]
    assert lines[fence + 3] == "```"
    assert fence <= 2, "the two commands come first"
    assert "pip install" in install_and_run and install_and_run.endswith("jaxgd reproduce")
    assert " -e " not in install_and_run, "the main job runs from a normal install"
    assert "pytest" in run_tests
    assert run_tests in (ROOT / ".ci" / "run").read_text()
