"""Hand-written plumbing that no notebook teaches: where the repository lives (for the launch
badges), where figures go, the series' figure style, and quiet-by-default progress bars.

The repository URL and git ref below are the *one place* they are set. `python tools/launch.py`
stamps them into every notebook's badge and setup cells (tests/test_launch.py fails if a notebook
disagrees), and the book's Colab and Binder buttons read them (tools/book/conf.py). A fork that
publishes changes REPOSITORY, then runs `make launch`.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.colors import to_rgb
from matplotlib.ticker import MaxNLocator
from tqdm.auto import tqdm

REPOSITORY = "nma-tutorials/neural-memory-agent"  # GitHub owner/name
GIT_REF = "main"  # branch or tag the badges and the Colab install cell use


def repo_root() -> Path:
    """The checkout's root when helpers is installed editable, else the working directory (on Colab the
    empty /content): for build outputs only. Shipped files are package data: see ``weights_dir()``."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "notebooks").is_dir() else Path.cwd()


def weights_dir() -> Path:
    """The shipped weights (package data of ``helpers``): found the same way from a checkout, an editable
    install, Binder and a plain ``pip install git+...``."""
    return Path(__file__).resolve().parent / "weights"


def build_dir() -> Path:
    """Folder for executed notebooks and figures (env var NMA_BUILD_DIR overrides)."""
    return Path(os.environ.get("NMA_BUILD_DIR", repo_root() / "build"))


def save_figure(fig: plt.Figure, name: str) -> Path:
    """Save ``fig`` as ``build/figures/<name>.png`` (so `make run` reproduces every figure)."""
    if not name or "/" in name:
        raise ValueError(f"name must be a plain file stem, got {name!r}")
    folder = build_dir() / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def index_axis(ax: plt.Axes, which: str = "x") -> None:
    """Integer ticks on an axis whose values are indices or counts (tasks, slots, steps): never "task 2.5"."""
    if which not in ("x", "y", "both"):
        raise ValueError(f"which must be 'x', 'y' or 'both', got {which!r}")
    for name in ("x", "y") if which == "both" else (which,):
        getattr(ax, f"{name}axis").set_major_locator(MaxNLocator(integer=True))


def legend_outside(ax: plt.Axes, **kwargs):
    """``ax``'s legend to the right of the axes, top-aligned, so it never covers data."""
    kwargs.setdefault("loc", "upper left")
    kwargs.setdefault("bbox_to_anchor", (1.02, 1.0))
    kwargs.setdefault("borderaxespad", 0.0)
    return ax.legend(**kwargs)


def text_colour(image, value: float) -> str:
    """``"black"`` or ``"white"``, whichever reads better on the colour ``image`` (an ``imshow`` result)
    gives ``value``: for annotations that must be legible on every cell of a heatmap."""
    red, green, blue = to_rgb(image.cmap(image.norm(value)))
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"


def progress(iterable=None, **kwargs):
    """``tqdm.auto`` bar, switched off under CI or when NMA_QUIET=1 so logs stay readable."""
    quiet = os.environ.get("NMA_QUIET", "") == "1" or os.environ.get("CI", "") == "true"
    kwargs.setdefault("disable", quiet)
    kwargs.setdefault("leave", False)
    return tqdm(iterable, **kwargs)
