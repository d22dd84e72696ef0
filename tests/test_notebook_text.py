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
