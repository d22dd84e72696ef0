"""tools/notebook_text.py round-trips every committed notebook byte for byte."""

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("notebook_text", ROOT / "tools" / "notebook_text.py")
notebook_text = importlib.util.module_from_spec(spec)
spec.loader.exec_module(notebook_text)


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_text_round_trip_is_exact(path: Path, tmp_path: Path):
    text = notebook_text.to_text(nbformat.read(path, as_version=4))
    again = tmp_path / path.name
    nbformat.write(notebook_text.to_notebook(text), again)
    assert again.read_bytes() == path.read_bytes()


FOLDING_TAGS = {"plumbing", "hide", "hide-input", "hide-cell", "remove-cell", "remove-input"}


def _folded(cell) -> bool:
    meta = cell.get("metadata", {})
    return bool(meta.get("jupyter", {}).get("source_hidden")) or bool(FOLDING_TAGS & set(meta.get("tags", [])))


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_reading_path_is_short(path: Path):
    """What a learner sees with folded cells folded: at most 40 lines a code cell, 400 a notebook."""
    cells = nbformat.read(path, as_version=4).cells
    visible = [len(c.source.splitlines()) for c in cells if c.cell_type == "code" and not _folded(c)]
    assert max(visible) <= 40, f"a visible code cell of {max(visible)} lines"
    assert sum(visible) <= 400, f"{sum(visible)} visible code lines"


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_plumbing_cells_are_folded_and_announced(path: Path):
    """A plumbing cell starts folded, and one line of prose before it says what it holds."""
    cells = nbformat.read(path, as_version=4).cells
    for k, cell in enumerate(cells):
        if "plumbing" in cell.get("metadata", {}).get("tags", []):
            assert cell.metadata.get("jupyter", {}).get("source_hidden"), f"cell {k} is plumbing but not folded"
            before = cells[k - 1]
            assert before.cell_type == "markdown" or "plumbing" in before.metadata.get("tags", []), (
                f"cell {k}: a plumbing cell needs a line of prose before it (or follows another plumbing cell)")
