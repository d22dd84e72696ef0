"""tools/run_notebooks.py (`make run`, `make seeds`): clean kernel output, seeds passed through, pass/fail table."""

import argparse
import importlib.util
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "tools" / "run_notebooks.py")
run_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_notebooks)


def write_notebook(path: Path, *sources: str) -> Path:
    nb = new_notebook(cells=[new_code_cell(source) for source in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_a_seeded_run_passes_the_seed_reports_failures_and_prints_no_kernel_warning(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("NMA_SEED", "0")  # restored after the test: run_series sets it for its kernels
    monkeypatch.setenv("NMA_BUILD_DIR", str(tmp_path))
    good = write_notebook(tmp_path / "01_good.ipynb", "import os\nprint('seed', os.environ['NMA_SEED'])")
    bad = write_notebook(tmp_path / "02_bad.ipynb", "assert 1 + 1 == 3, 'arithmetic is broken'")
    summary = run_notebooks.run_series([good, bad], tmp_path / "seed-7", seed=7, timeout=120)
    out, err = capfd.readouterr()
    assert "without encryption" not in out + err, "kernels must start over IPC (or encrypted), with no TCP warning"
    records = summary["notebooks"]
    assert records["01_good.ipynb"]["status"] == "pass" and records["02_bad.ipynb"]["status"] == "fail"
    assert records["02_bad.ipynb"]["error"] == "AssertionError: arithmetic is broken"
    executed = nbformat.read(tmp_path / "seed-7" / "01_good.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "seed 7\n"
    written = json.loads((tmp_path / "seed-7" / "times.json").read_text())
    assert written["seed"] == 7 and set(written["notebooks"]) == {"01_good.ipynb", "02_bad.ipynb"}
    assert written["notebooks"]["01_good.ipynb"]["seed"] == 7


def test_times_json_keeps_the_records_of_notebooks_not_rerun(tmp_path, monkeypatch):
    monkeypatch.setenv("NMA_BUILD_DIR", str(tmp_path))
    monkeypatch.delenv("NMA_SEED", raising=False)
    earlier = {"notebooks": {"01_old.ipynb": {"status": "pass", "error": "", "seconds": 9.0, "seed": None}}}
    (tmp_path / "times.json").write_text(json.dumps(earlier))
    summary = run_notebooks.run_series([write_notebook(tmp_path / "02_new.ipynb", "x = 1")], tmp_path, None, 120)
    assert list(summary["notebooks"]) == ["02_new.ipynb"]
    written = json.loads((tmp_path / "times.json").read_text())
    assert list(written["notebooks"]) == ["01_old.ipynb", "02_new.ipynb"]
    assert written["total_seconds"] == round(9.0 + summary["notebooks"]["02_new.ipynb"]["seconds"], 1)


def test_figures_are_kept_even_when_ci_exports_mplbackend_agg(tmp_path, monkeypatch):
    """The book shows the executed notebooks' figures: plt.show() must leave a PNG in the executed copy."""
    monkeypatch.setenv("MPLBACKEND", "Agg")  # what CI exports; restored after the test
    plot = write_notebook(tmp_path / "01_plot.ipynb", "import matplotlib.pyplot as plt\nplt.plot([0, 1])\nplt.show()")
    (tmp_path / "out").mkdir()
    record = run_notebooks.run_one(plot, tmp_path / "out", timeout=120)
    assert record["status"] == "pass", record
    outputs = nbformat.read(tmp_path / "out" / "01_plot.ipynb", as_version=4).cells[0].outputs
    assert any("image/png" in output.get("data", {}) for output in outputs), outputs


def test_results_table_has_one_row_per_notebook_and_one_column_per_seed():
    runs = {f"seed {s}": {"total_seconds": 3.0, "notebooks": {
        "01_a.ipynb": {"status": "pass", "error": "", "seconds": 1.0},
        "02_b.ipynb": {"status": "fail", "error": "AssertionError: x | y", "seconds": 2.0}}} for s in (1, 2)}
    table = run_notebooks.results_table(runs).splitlines()
    assert table[0] == "| notebook | seed 1 | seed 2 |"
    assert table[2] == "| 01_a.ipynb | pass, 1.0 s | pass, 1.0 s |"
    assert "**FAIL** (AssertionError: x / y)" in table[3] and table[-1] == "| total | 3.0 s | 3.0 s |"


@pytest.mark.parametrize("text", ["-1", "abc", "1.5", str(2**32)])
def test_seed_arguments_are_checked(text):
    with pytest.raises(argparse.ArgumentTypeError, match="seed"):
        run_notebooks.seed_arg(text)


def test_unknown_notebooks_are_refused():
    with pytest.raises(SystemExit, match="not a notebook"):
        run_notebooks.notebook_paths(["99_missing.ipynb"])
    assert run_notebooks.notebook_paths([])[0].name == "01_foundations.ipynb"
