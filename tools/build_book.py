"""Turn the executed notebooks of `make run` (build/*.ipynb) into the book, a static site in build/book/.

Usage (what `make book` calls):

    python tools/build_book.py [--source build] [--out build/book]

The site is built by Sphinx with myst-nb and sphinx-book-theme (Jupyter Book 1's stack), configured by
tools/book/conf.py: chapter navigation, full-text search, Colab and Binder launch buttons (from
helpers.plumbing's REPOSITORY and GIT_REF), a download button for each executed notebook, math typeset
by a MathJax served from the site itself, figures embedded. Nothing is executed again (myst-nb's
nb_execution_mode "off") and nothing is downloaded.

This script stages the Sphinx project in build/book-src/: the configuration, ``index.md`` (the table of
contents with each chapter's wall time, pass/fail and exercise count, from ``times.json`` written by
tools/run_notebooks.py), MathJax from the jupyter-server-mathjax wheel, and a copy of each executed
notebook in which

* every run of consecutive cells tagged ``solution`` is folded into one
  ``<details class="solution"><summary>Solution</summary>`` (a reader opens it after trying);
* cells tagged ``plumbing`` (and the launch badges and Colab setup cell, which the book's own launch
  buttons replace) are removed (myst-nb's ``remove-cell``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_markdown_cell

ROOT = Path(__file__).resolve().parents[1]
CONF = Path(__file__).resolve().parent / "book"
BOOK_TITLE = "Neural memory agent"
CHAPTER = re.compile(r"^\d\d_[\w-]+\.ipynb$")
EXERCISE = re.compile(r"^\*\*Exercise \d+\*\*", re.MULTILINE)
HIDDEN_TAGS = ("plumbing", "launch-badges", "colab-setup")
SOLUTION_TAG = "solution"
SOLUTION_OPEN = '<details class="solution">\n<summary>Solution</summary>'
SOLUTION_CLOSE = "</details>"
# What the site needs of MathJax 2.7 (the wheel's localizations and SVG output are left out).
MATHJAX_SKIP = ("localization", "SVG", "LICENSE")


def chapter_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The notebook's first level-1 heading, e.g. ``01 · Foundations: ...``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def exercise_count(nb: nbformat.NotebookNode) -> int:
    return sum(len(EXERCISE.findall(cell.source)) for cell in nb.cells if cell.cell_type == "markdown")


def was_executed(nb: nbformat.NotebookNode) -> bool:
    return any(cell.cell_type == "code" and cell.get("execution_count") for cell in nb.cells)


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _html_cell(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text, metadata={"tags": ["book-generated"]})


def prepare(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The chapter as the book shows it: solutions folded, plumbing removed (``nb`` is left unchanged)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    cells, in_solution = [], False
    for cell in nb.cells:
        tags = _tags(cell)
        if any(tag in tags for tag in HIDDEN_TAGS):
            cell.metadata["tags"] = [*tags, "remove-cell"]
            cells.append(cell)  # removed by myst-nb; kept here so a solution run around it is not split
            continue
        solution = SOLUTION_TAG in tags
        if solution and not in_solution:
            cells.append(_html_cell(SOLUTION_OPEN))
        elif in_solution and not solution:
            cells.append(_html_cell(SOLUTION_CLOSE))
        in_solution = solution
        cells.append(cell)
    if in_solution:
        cells.append(_html_cell(SOLUTION_CLOSE))
    nb.cells = cells
    return nb


def index_markdown(chapters: list[dict], times: dict | None) -> str:
    """The home page: what the book is, the table of chapters with their run times, and the toctree."""
    rows = ["| # | chapter | exercises | wall time | run |", "|---|---|---:|---:|---|"]
    for chapter in chapters:
        record = (times or {}).get("notebooks", {}).get(chapter["source"])
        seconds = f"{record['seconds']:.1f} s" if record else "not timed"
        status = record["status"] if record else ""
        number, _, rest = chapter["title"].partition(" · ")
        rows.append(f"| {number} | [{rest or chapter['title']}]({chapter['source']}) | {chapter['exercises']} "
                    f"| {seconds} | {status} |")
    if times:
        total = sum(record["seconds"] for record in times.get("notebooks", {}).values())
        rows.append(f"| | **whole series** | {sum(c['exercises'] for c in chapters)} | **{total:.1f} s** | |")
        load = times.get("load_average_at_start")
        seeds = {record.get("seed") for record in times["notebooks"].values()}
        seed_text = ", ".join("0 (the default)" if s is None else str(s) for s in sorted(seeds, key=str))
        note = (f"Wall times of the last `make run` (`python tools/run_notebooks.py`) of each notebook, from a "
                f"fresh kernel at the defaults that CI runs; seed {seed_text}; "
                f"NMA_DEVICE={times.get('device', 'auto')} on {times.get('machine', '?')}. The latest run "
                f"finished {times.get('finished', '?')}"
                f"{f', with a load average of {load[0]:.2f} at its start' if load else ''}.")
    else:
        note = "No `build/times.json` was found: run `make run` before `make book` to see the times."
    toctree = "\n".join(["```{toctree}", ":hidden:", ":maxdepth: 1", "",
                         *(c["source"].removesuffix(".ipynb") for c in chapters), "```"])
    return "\n\n".join([
        f"# {BOOK_TITLE}: continual learning in PyTorch, one component at a time",
        "The executed notebooks of the series, with every printed number and figure as `make run` produced "
        "them. Read them in order: each chapter builds one piece and reuses the earlier ones. Every chapter "
        "ends with exercises; click **Solution** under an exercise to see its worked solution (try it first). "
        "The rocket button at the top of a chapter opens it in Colab or Binder; the download button gives the "
        "executed notebook.",
        "## Chapters", "\n".join(rows), note, toctree, ""])


def copy_mathjax(static: Path) -> Path:
    """MathJax 2.7 from the jupyter-server-mathjax wheel into ``static``/mathjax/."""
    import jupyter_server_mathjax

    source = Path(jupyter_server_mathjax.__file__).resolve().parent / "static"
    target = static / "mathjax"
    shutil.copytree(source, target, ignore=lambda folder, names: [n for n in names if n in MATHJAX_SKIP])
    return target


def stage(source: Path, staging: Path) -> list[dict]:
    """The Sphinx project in ``staging``: configuration, index, MathJax and the prepared chapters."""
    paths = sorted(p for p in source.glob("*.ipynb") if CHAPTER.match(p.name))
    if not paths:
        raise SystemExit(f"build_book: no executed notebooks in {source}; run `make run` first")
    notebooks = {p: nbformat.read(p, as_version=4) for p in paths}
    missing_outputs = [p.name for p, nb in notebooks.items() if not was_executed(nb)]
    if missing_outputs:
        raise SystemExit(f"build_book: {', '.join(missing_outputs)} in {source} have no outputs; run `make run`")
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(CONF, staging, ignore=shutil.ignore_patterns("__pycache__"))
    copy_mathjax(staging / "_static")
    chapters = []
    for path, nb in notebooks.items():
        nbformat.write(prepare(nb), staging / path.name)
        chapters.append({"source": path.name, "exercises": exercise_count(nb), "title": chapter_title(nb, path.stem)})
    times_path = source / "times.json"
    times = json.loads(times_path.read_text()) if times_path.is_file() else None
    (staging / "index.md").write_text(index_markdown(chapters, times), encoding="utf-8")
    return chapters


def build(source: Path, out: Path, staging: Path | None = None, strict: bool = True) -> Path:
    """Stage and build the site from the executed notebooks in ``source`` into ``out``; return its index page.

    ``strict``: warnings are errors (-W), so a broken cross-reference or an unreadable notebook fails the
    build instead of leaving a silent gap; a book of some chapters only (a test's) has links to the others
    that cannot resolve, and passes ``strict=False``."""
    from sphinx.cmd.build import build_main

    staging = staging or out.parent / "book-src"
    stage(source, staging)
    if out.exists():
        shutil.rmtree(out)
    status = build_main(["-b", "html", "-q", *(["-W", "--keep-going"] if strict else []),
                         "-d", str(staging / "_doctrees"), str(staging), str(out)])
    if status:
        raise SystemExit(f"build_book: sphinx-build failed (exit {status})")
    return out / "index.html"


def folder_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT / "build", help="folder of executed notebooks")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "book", help="folder for the HTML site")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    index = build(args.source, args.out)
    count, size = folder_size(args.out)
    print(f"book: {index} ({count} files, {size / 1e6:.1f} MB) in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
