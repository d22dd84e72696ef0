"""The GitHub workflows: tests on every push (the README's test command, CPU only) and the book on Pages.

actionlint (with shellcheck for the run: scripts) checks them in `make test` too; this file checks that
the check can fail and that the workflows run what the README and the Makefile say.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent
ACTIONLINT, SHELLCHECK = BIN / "actionlint", BIN / "shellcheck"
pytestmark = pytest.mark.skipif(not ACTIONLINT.exists(),
                                reason="actionlint missing: pip install -r requirements-test.txt")


def actionlint(*paths: Path) -> subprocess.CompletedProcess:
    args = [str(ACTIONLINT), "-no-color"]
    if SHELLCHECK.exists():
        args.append(f"-shellcheck={SHELLCHECK}")
    return subprocess.run([*args, *map(str, paths)], capture_output=True, text=True, cwd=ROOT)


def test_workflows_pass_actionlint():
    paths = sorted(WORKFLOWS.glob("*.yml"))
    assert {p.name for p in paths} >= {"ci.yml", "book.yml"}
    result = actionlint(*paths)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path):
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text("on: push\njobs:\n  t:\n    runs-on: ubuntu-24.04\n    steps:\n"
                      "      - run: echo ${{ github.nonexistent_context }}\n      - uses: actions/checkout@v4\n"
                      "        with:\n          no-such-input: 1\n")
    result = actionlint(broken)
    assert result.returncode != 0 and "broken.yml" in result.stdout


def test_ci_runs_the_readme_test_command_on_cpu():
    ci = (WORKFLOWS / "ci.yml").read_text()
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^(make test)\b", readme, re.MULTILINE).group(1)
    assert f"run: {command}" in ci
    assert "download.pytorch.org/whl/cpu" in ci and "NMA_DEVICE: cpu" in ci


def test_book_workflow_builds_from_make_run_and_deploys_pages():
    book = (WORKFLOWS / "book.yml").read_text()
    assert book.index("run: make run") < book.index("run: make book")
    assert "path: build/book" in book and "actions/deploy-pages@" in book
    assert "pages: write" in book and "id-token: write" in book
