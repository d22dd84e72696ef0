"""`make book`: one small executed notebook built into the Sphinx site (tools/build_book.py, tools/book/conf.py).

Checks the HTML the build writes; tests/e2e/test_book_browser.py checks in headless Chromium that the
formulas are typeset and that search finds a term. Needs requirements-book.txt (`make test` installs it).
"""

import base64
import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

pytest.importorskip("myst_nb", reason="book tools missing: pip install -r requirements-book.txt")
ROOT = Path(__file__).resolve().parents[1]
NAME = "01_tiny.ipynb"
# A 1x1 PNG: the figure a chapter's plt.show() leaves in its executed copy.
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082")).decode()


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_book = load_tool("build_book")


def tagged(cell, *tags):
    cell.metadata["tags"] = list(tags)
    return cell


def executed_notebook() -> nbformat.NotebookNode:
    """A chapter as `make run` leaves it: outputs, a figure, formulas, an exercise with a two-cell solution."""
    cells = [
        new_markdown_cell("# 01 · Tiny: a chapter for the test\n\nNext: [02 · other](02_other.ipynb)."),
        tagged(new_markdown_cell("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](x)"),
               "launch-badges"),
        tagged(new_code_cell("import sys  # COLAB-SETUP-CELL", execution_count=1), "colab-setup"),
        tagged(new_code_cell("PLUMBING-CELL-SOURCE = 1", execution_count=2), "plumbing"),
        new_markdown_cell("Inline $a_t = \\sigma(x)$ and a display:\n\n$$\nW = \\sum_i w_i\n$$\n\nZEBRAFISH here."),
        new_code_cell("print(x)", execution_count=3,
                      outputs=[new_output("stream", name="stdout", text="CHAPTER-OUTPUT\n")]),
        new_code_cell("plt.show()", execution_count=4,
                      outputs=[new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]),
        new_markdown_cell("## Exercises"),
        new_markdown_cell("**Exercise 1** (warm-up). EXERCISE-QUESTION-TEXT"),
        tagged(new_markdown_cell("**Solution 1.** The answer is FORTY-TWO-SOLUTION-TEXT."), "solution"),
        tagged(new_code_cell("print(6 * 7)", execution_count=5,
                             outputs=[new_output("stream", name="stdout", text="SOLUTION-OUTPUT-42\n")]), "solution"),
        new_markdown_cell("**Exercise 2** (core). SECOND-QUESTION"),
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                              "language": "python"}})


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("book")
    source = base / "build"
    source.mkdir()
    nb = executed_notebook()
    nbformat.write(nb, source / NAME)
    other = executed_notebook()
    other.cells[0].source = "# 02 · Other: the second chapter"
    nbformat.write(other, source / "02_other.ipynb")
    times = {"finished": "2026-01-01 00:00 UTC", "machine": "test", "device": "cpu", "seed": None,
             "load_average_at_start": [1.0, 1.0, 1.0], "total_seconds": 1.5,
             "notebooks": {NAME: {"status": "pass", "error": "", "seconds": 1.5}}}
    (source / "times.json").write_text(json.dumps(times))
    index = build_book.build(source, source / "book")
    assert index == source / "book" / "index.html"
    return source / "book"


def page(site: Path, name: str = "01_tiny.html") -> str:
    return (site / name).read_text(encoding="utf-8")


def test_solutions_are_folded_into_one_details_element(site):
    html = page(site)
    opened = [m.start() for m in re.finditer(r'<details class="solution">\s*<summary>Solution</summary>', html)]
    closed = [m.start() for m in re.finditer(r"</details>", html)]
    assert len(opened) == 1, "the two consecutive solution cells share one <details>"
    start = opened[0]
    end = min(c for c in closed if c > start)
    for text in ("FORTY-TWO-SOLUTION-TEXT", "SOLUTION-OUTPUT-42"):
        assert start < html.index(text) < end, f"{text} must be inside <details>"
    for text in ("EXERCISE-QUESTION-TEXT", "SECOND-QUESTION", "CHAPTER-OUTPUT"):
        assert not start < html.index(text) < end, f"{text} must stay outside <details>"
    assert '<details class="solution" open' not in html


def test_plumbing_badges_and_colab_setup_are_hidden(site):
    html = page(site)
    for text in ("PLUMBING-CELL-SOURCE", "COLAB-SETUP-CELL", "colab-badge.svg"):
        assert text not in html


def test_launch_buttons_read_the_configured_repository(site):
    html, launch = page(site).replace("&amp;", "&"), load_tool("launch")
    assert f'href="{launch.colab_url(NAME)}"' in html
    assert f'href="{launch.binder_url(NAME)}"' in html


def test_download_button_offers_the_executed_notebook(site):
    assert "_sources/01_tiny.ipynb" in page(site)
    downloaded = nbformat.read(site / "_sources" / NAME, as_version=4)
    assert any(cell.get("outputs") for cell in downloaded.cells), "the download is the executed notebook"


def test_math_is_marked_up_for_a_mathjax_served_by_the_site(site):
    html = page(site)
    assert re.search(r'<span class="math notranslate nohighlight">\\\(a_t = \\sigma\(x\)\\\)</span>', html)
    assert re.search(r'<div class="math notranslate nohighlight">\s*\\\[', html)
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', html)
    mathjax = [src for src in scripts if "MathJax.js" in src]
    assert mathjax and mathjax[0].startswith("_static/mathjax/MathJax.js"), scripts
    assert (site / "_static" / "mathjax" / "MathJax.js").is_file()
    remote = [src for src in scripts if re.match(r"(https?:)?//", src)]
    assert not remote, f"the site loads scripts from the network: {remote}"


def test_figures_are_embedded(site):
    images = re.findall(r'<img[^>]*src="(_images/[^"]+\.png)"', page(site))
    assert images and all((site / src).is_file() for src in images)


def test_chapter_links_navigation_search_and_index(site):
    html = page(site)
    assert 'href="02_other.html"' in html, "a link to another notebook points at its chapter page"
    assert 'href="index.html"' in html
    assert (site / "search.html").is_file() and "ZEBRAFISH".lower() in (site / "searchindex.js").read_text().lower()
    index = page(site, "index.html")
    assert 'href="01_tiny.html"' in index and "1.5 s" in index
    assert re.search(r"<td[^>]*>\s*(<p>)?\s*2\s*(</p>)?\s*</td>", index), "the index counts the two exercises"


def test_unexecuted_notebooks_are_refused(tmp_path):
    nb = executed_notebook()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count, cell.outputs = None, []
    nbformat.write(nb, tmp_path / NAME)
    with pytest.raises(SystemExit, match="no outputs"):
        build_book.build(tmp_path, tmp_path / "book")
    with pytest.raises(SystemExit, match="no executed notebooks"):
        build_book.build(tmp_path / "book", tmp_path / "other")
