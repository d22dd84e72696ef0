"""Turn the executed notebooks of `make run` (build/*.ipynb) into a static HTML site in build/book/.

Usage (what `make book` calls):

    python tools/build_book.py [--source build] [--out build/book]

Every chapter is one executed notebook rendered by nbconvert with the template in
tools/book_templates/book/ (JupyterLab's template, extended with a navigation bar), figures embedded.
Cells tagged ``solution`` are folded into ``<details><summary>Solution</summary>`` so a reader sees
each exercise's solution only after clicking it. Links between notebooks (``02_memory_bank.ipynb``)
point at the chapters' pages. ``index.html`` is rendered by the same exporter from a small generated
notebook: the table of contents with each chapter's wall time, pass/fail and exercise count, read
from ``times.json`` (written by tools/run_notebooks.py).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = Path(__file__).resolve().parent / "book_templates"
BOOK_TITLE = "Neural memory agent"
CHAPTER = re.compile(r"^\d\d_[\w-]+\.ipynb$")
NOTEBOOK_LINK = re.compile(r"\]\((\d\d_[\w-]+)\.ipynb(#[^)\s]*)?\)")
EXERCISE = re.compile(r"^\*\*Exercise \d+\*\*", re.MULTILINE)


class ChapterLinks(Preprocessor):
    """Point markdown links to another notebook of the series at that chapter's HTML page."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "markdown":
            cell.source = NOTEBOOK_LINK.sub(lambda m: f"]({m.group(1)}.html{m.group(2) or ''})", cell.source)
        return cell, resources


def make_exporter() -> HTMLExporter:
    exporter = HTMLExporter(template_name="book", extra_template_basedirs=[str(TEMPLATES)])
    exporter.register_preprocessor(ChapterLinks(), enabled=True)
    return exporter


def chapter_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The notebook's first level-1 heading, e.g. ``01 · Foundations: ...``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def short_title(title: str) -> str:
    """``01 · Foundations: configuration, ...`` -> ``01 · Foundations`` (for the navigation bar)."""
    return title.split(":")[0].strip()


def exercise_count(nb: nbformat.NotebookNode) -> int:
    return sum(len(EXERCISE.findall(cell.source)) for cell in nb.cells if cell.cell_type == "markdown")


def was_executed(nb: nbformat.NotebookNode) -> bool:
    return any(cell.cell_type == "code" and cell.get("execution_count") for cell in nb.cells)


def render(exporter: HTMLExporter, nb: nbformat.NotebookNode, name: str, book: dict | None) -> str:
    resources = {"metadata": {"name": name}, "book": book}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body


def index_notebook(chapters: list[dict], times: dict | None) -> nbformat.NotebookNode:
    """The index page as a notebook: a title, how to read the book, and the table of contents."""
    rows = ["| # | chapter | exercises | wall time | run |", "|---|---|---:|---:|---|"]
    for chapter in chapters:
        record = (times or {}).get("notebooks", {}).get(chapter["source"])
        seconds = f"{record['seconds']:.1f} s" if record else "not timed"
        status = record["status"] if record else ""
        number, _, rest = chapter["title"].partition(" · ")
        rows.append(f"| {number} | [{rest or chapter['title']}]({chapter['href']}) | {chapter['exercises']} "
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
    intro = (f"# {BOOK_TITLE}: continual learning in PyTorch, one component at a time\n\n"
             "The executed notebooks of the series, with every printed number and figure as `make run` "
             "produced them. Read them in order: each chapter builds one piece and reuses the earlier ones. "
             "Every chapter ends with exercises; click **Solution** under an exercise to see its worked "
             "solution (try it first).")
    return new_notebook(cells=[new_markdown_cell(intro), new_markdown_cell("## Chapters\n\n" + "\n".join(rows)),
                               new_markdown_cell(note)])


def build(source: Path, out: Path) -> list[Path]:
    """Render every executed chapter in ``source`` and the index into ``out``; return the written pages."""
    paths = sorted(p for p in source.glob("*.ipynb") if CHAPTER.match(p.name))
    if not paths:
        raise SystemExit(f"build_book: no executed notebooks in {source}; run `make run` first")
    notebooks = {p: nbformat.read(p, as_version=4) for p in paths}
    missing_outputs = [p.name for p, nb in notebooks.items() if not was_executed(nb)]
    if missing_outputs:
        raise SystemExit(f"build_book: {', '.join(missing_outputs)} in {source} have no outputs; run `make run`")
    times_path = source / "times.json"
    times = json.loads(times_path.read_text()) if times_path.is_file() else None
    chapters = [{"source": p.name, "href": p.with_suffix(".html").name, "exercises": exercise_count(nb),
                 "title": chapter_title(nb, p.stem)} for p, nb in notebooks.items()]
    out.mkdir(parents=True, exist_ok=True)
    exporter = make_exporter()
    written = []
    for position, (path, nb) in enumerate(notebooks.items()):
        neighbours = {"previous": chapters[position - 1] if position > 0 else None,
                      "next": chapters[position + 1] if position + 1 < len(chapters) else None}
        book = {"home": "index.html", "title": BOOK_TITLE,
                **{key: {"href": c["href"], "title": short_title(c["title"])} if c else None
                   for key, c in neighbours.items()}}
        page = out / chapters[position]["href"]
        page.write_text(render(exporter, nb, chapter_title(nb, path.stem), book), encoding="utf-8")
        written.append(page)
    first = chapters[0]
    index_book = {"home": "index.html", "title": BOOK_TITLE, "previous": None,
                  "next": {"href": first["href"], "title": short_title(first["title"])}}
    index = out / "index.html"
    index.write_text(render(exporter, index_notebook(chapters, times), BOOK_TITLE, index_book), encoding="utf-8")
    return [index, *written]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT / "build", help="folder of executed notebooks")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "book", help="folder for the HTML site")
    args = parser.parse_args(argv)
    pages = build(args.source, args.out)
    for page in pages:
        print(f"wrote {page} ({page.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
