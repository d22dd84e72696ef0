"""Every notebook opens the same way and launches from the one configured repository and ref."""

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

from helpers.plumbing import GIT_REF, REPOSITORY

_spec = importlib.util.spec_from_file_location("launch", Path(__file__).resolve().parents[1] / "tools" / "launch.py")
launch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(launch)
NOTEBOOK_DIR, binder_url, colab_url, launch_problems, setup_source = (
    launch.NOTEBOOK_DIR, launch.binder_url, launch.colab_url, launch.launch_problems, launch.setup_source)

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
OPENING = ["launch-badges", "colab-setup", "device-switch", "parameters"]


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def test_notebooks_exist_in_series_order():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(1, len(numbers) + 1)), [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_badges_and_setup_point_to_the_configured_repository(path: Path):
    assert launch_problems(path) == []
    text = path.read_text()
    assert colab_url(path.name) in text and binder_url(path.name) in text
    assert f"github.com/{REPOSITORY}@{GIT_REF}" in setup_source()
    assert "lab/tree/notebooks/" + path.name in binder_url(path.name)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_standard_opening_and_clean_committed_state(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {path.name[:2]}"), "title first"
    positions = []
    for tag in OPENING:
        hits = [i for i, c in enumerate(nb.cells) if tag in _tags(c)]
        assert len(hits) == 1, f"{path.name}: need exactly one cell tagged {tag!r}"
        positions.append(hits[0])
    assert positions == sorted(positions), f"{path.name}: opening cells out of order {dict(zip(OPENING, positions))}"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: commit with outputs cleared"
    assert "device = pick_device(DEVICE)" in nb.cells[positions[2]].source


def test_a_stale_badge_is_reported(tmp_path: Path):
    nb = json.loads(NOTEBOOKS[0].read_text())
    for cell in nb["cells"]:
        if "launch-badges" in cell.get("metadata", {}).get("tags", []):
            cell["source"] = "[![Binder](https://mybinder.org/badge_logo.svg)](https://example.org/other/repo)"
    stale = tmp_path / NOTEBOOKS[0].name
    stale.write_text(json.dumps(nb))
    assert any("stale" in p for p in launch_problems(stale))


def test_readme_badges_point_to_the_configured_repository():
    readme_problems = launch.readme_problems

    assert readme_problems() == []
