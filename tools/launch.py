"""Hand-written plumbing: the launch badges and the Colab setup cell every notebook opens with.

Their text is generated from `helpers.plumbing.REPOSITORY` and `GIT_REF` (the one place both are
set). After changing either, run `python tools/launch.py` (or `make launch`) to restamp every
notebook; tests/test_launch.py fails while any notebook disagrees.

Cells are found by tag: the markdown cell tagged ``launch-badges`` and the code cell tagged
``colab-setup``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from helpers.plumbing import GIT_REF, REPOSITORY

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
BADGES_TAG = "launch-badges"
SETUP_TAG = "colab-setup"


def colab_url(notebook: str) -> str:
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{GIT_REF}/notebooks/{notebook}"


def binder_url(notebook: str) -> str:
    return f"https://mybinder.org/v2/gh/{REPOSITORY}/{GIT_REF}?urlpath=lab/tree/notebooks/{notebook}"


def badges_markdown(notebook: str) -> str:
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(notebook)}) "
        f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url(notebook)})"
    )


def setup_source() -> str:
    # --no-deps: Colab already has every runtime dependency pyproject.toml declares (numpy, matplotlib,
    # tqdm, nbformat, scikit-learn, scipy, safetensors) plus torch and ipywidgets; letting pip resolve them
    # could replace Colab's builds. The shipped weights come with the package (package data), so a plain
    # install from git finds them through helpers.plumbing.weights_dir(): nothing is retrained on Colab.
    return (
        "# Setup: on Colab, install this series' `helpers` from the same git ref as the badges above.\n"
        "# Locally and on Binder, `make lab` / binder/ installed it already, so this cell does nothing.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install -q --no-deps "git+https://github.com/{REPOSITORY}@{GIT_REF}"'
    )


def _tagged(nb: nbformat.NotebookNode, tag: str) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]


def launch_problems(path: Path) -> list[str]:
    """Everything wrong with one notebook's launch cells (empty list when all is well)."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    for tag, expected in ((BADGES_TAG, badges_markdown(path.name)), (SETUP_TAG, setup_source())):
        cells = _tagged(nb, tag)
        if len(cells) != 1:
            problems.append(f"{path.name}: expected one cell tagged {tag!r}, found {len(cells)}")
        elif cells[0].source != expected:
            problems.append(f"{path.name}: cell tagged {tag!r} is stale; run `python tools/launch.py`")
    return problems


def stamp(path: Path) -> None:
    """Rewrite one notebook's badge and setup cells from the single source of truth."""
    nb = nbformat.read(path, as_version=4)
    for tag, text in ((BADGES_TAG, badges_markdown(path.name)), (SETUP_TAG, setup_source())):
        for cell in _tagged(nb, tag):
            cell.source = text
    nbformat.write(nb, path)


README = NOTEBOOK_DIR.parent / "README.md"
README_MARKERS = ("<!-- launch-badges -->", "<!-- /launch-badges -->")
README_NOTEBOOK = "01_foundations.ipynb"  # the README's badges open the first notebook


def readme_badges() -> str:
    start, end = README_MARKERS
    return f"{start}\n{badges_markdown(README_NOTEBOOK)}\n{end}"


def readme_problems(readme: Path = README) -> list[str]:
    """Empty when the README's badge block matches the configured repository and ref."""
    return [] if readme_badges() in readme.read_text() else [f"{readme.name}: badge block is stale or missing"]


def stamp_readme(readme: Path = README) -> None:
    start, end = README_MARKERS
    text = readme.read_text()
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    readme.write_text(head + readme_badges() + tail)


def main() -> None:
    for path in sorted(NOTEBOOK_DIR.glob("*.ipynb")):
        stamp(path)
        print(f"stamped {path.name}")
    stamp_readme()
    print("stamped README.md")


if __name__ == "__main__":
    main()
