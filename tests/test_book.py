"""`make book`: one small executed notebook rendered into the HTML site (tools/build_book.py)."""

import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_book = load_tool("build_book")


def executed_notebook() -> nbformat.NotebookNode:
    """A chapter as `make run` leaves it: executed cells with outputs, an exercise and a two-cell solution."""
    solution_md = new_markdown_cell("**Solution 1.** The answer is FORTY-TWO-SOLUTION-TEXT.")
    solution_code = new_code_cell("print(6 * 7)", execution_count=3,
                                  outputs=[new_output("stream", name="stdout", text="SOLUTION-OUTPUT-42\n")])
    for cell in (solution_md, solution_code):
        cell.metadata["tags"] = ["solution"]
    cells = [
        new_markdown_cell("# 01 · Tiny: a chapter for the test\n\nNext: [02 · other](02_other.ipynb)."),
        new_code_cell("x = 1", execution_count=1),
        new_code_cell("print(x)", execution_count=2,
                      outputs=[new_output("stream", name="stdout", text="CHAPTER-OUTPUT\n")]),
        new_markdown_cell("## Exercises"),
        new_markdown_cell("**Exercise 1** (warm-up). EXERCISE-QUESTION-TEXT"),
        solution_md,
        solution_code,
        new_markdown_cell("**Exercise 2** (core). SECOND-QUESTION"),
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                              "language": "python"}})


@pytest.fixture()
def book(tmp_path):
    source, out = tmp_path / "build", tmp_path / "build" / "book"
    source.mkdir()
    nbformat.write(executed_notebook(), source / "01_tiny.ipynb")
    times = {"finished": "2026-01-01 00:00 UTC", "machine": "test", "device": "cpu", "seed": None,
             "load_average_at_start": [1.0, 1.0, 1.0], "total_seconds": 1.5,
             "notebooks": {"01_tiny.ipynb": {"status": "pass", "error": "", "seconds": 1.5}}}
    (source / "times.json").write_text(json.dumps(times))
    pages = build_book.build(source, out)
    return {page.name: page.read_text(encoding="utf-8") for page in pages}


def test_solutions_are_folded_into_one_details_element(book):
    html = book["01_tiny.html"]
    opened = [m.start() for m in re.finditer(r'<details class="book-solution">\s*<summary>Solution</summary>', html)]
    closed = [m.start() for m in re.finditer(r"</details>", html)]
    assert len(opened) == 1 and len(closed) == 1, "the two consecutive solution cells share one <details>"
    start, end = opened[0], closed[0]
    for text in ("FORTY-TWO-SOLUTION-TEXT", "SOLUTION-OUTPUT-42"):
        assert start < html.index(text) < end, f"{text} must be inside <details>"
    for text in ("EXERCISE-QUESTION-TEXT", "SECOND-QUESTION", "CHAPTER-OUTPUT"):
        position = html.index(text)
        assert not start < position < end, f"{text} must stay outside <details>"
    assert "<details class=\"book-solution\" open" not in html


def test_chapter_links_navigation_and_index(book):
    html = book["01_tiny.html"]
    assert 'href="02_other.html"' in html and "02_other.ipynb" not in html
    assert 'href="index.html"' in html
    index = book["index.html"]
    assert 'href="01_tiny.html"' in index and "1.5 s" in index
    assert re.search(r"<td[^>]*>\s*2\s*</td>", index), "the index counts the chapter's two exercises"


def test_unexecuted_notebooks_are_refused(tmp_path):
    nb = executed_notebook()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count, cell.outputs = None, []
    nbformat.write(nb, tmp_path / "01_tiny.ipynb")
    with pytest.raises(SystemExit, match="no outputs"):
        build_book.build(tmp_path, tmp_path / "book")
    with pytest.raises(SystemExit, match="no executed notebooks"):
        build_book.build(tmp_path / "book", tmp_path / "other")
