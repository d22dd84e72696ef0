"""helpers/ must be exactly what the notebooks' `#| export` cells generate."""

import shutil
from pathlib import Path

import nbformat
import pytest

from helpers.export import HELPERS_DIR, NOTEBOOK_DIR, export_all, exported_source, out_of_sync


def test_generated_modules_match_notebooks():
    stale = out_of_sync()
    assert not stale, f"helpers/{', '.join(stale)} differ from the notebooks' `#| export` cells: run `make export`"


def test_a_hand_edit_is_detected(tmp_path: Path):
    """The sync check can fail: a hand edit of a copy of helpers/ is reported."""
    copy = tmp_path / "helpers"
    shutil.copytree(HELPERS_DIR, copy)
    victim = sorted(p.name for p in export_all(out_dir=tmp_path))[0]
    (copy / victim).write_text((copy / victim).read_text() + "\nHAND_EDIT = 1\n")
    assert out_of_sync(copy) == [victim]


def test_every_generated_module_names_its_notebook():
    for path in sorted(NOTEBOOK_DIR.glob("*.ipynb")):
        text = exported_source(nbformat.read(path, as_version=4), path.name)
        assert f"notebooks/{path.name}" in text.splitlines()[0]


def test_duplicate_module_names_are_rejected(tmp_path: Path):
    src = sorted(NOTEBOOK_DIR.glob("*.ipynb"))[0]
    for name in ("a.ipynb", "b.ipynb"):
        shutil.copy(src, tmp_path / name)
    with pytest.raises(ValueError, match="exported by both"):
        export_all(notebook_dir=tmp_path, out_dir=tmp_path)
