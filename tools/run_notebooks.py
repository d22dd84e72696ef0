"""Execute every notebook headless, in order, into build/ and print each one's wall time.

Usage: python tools/run_notebooks.py [NOTEBOOK ...]   (what `make run` calls)
Each notebook runs from a fresh kernel in notebooks/ (so relative paths behave as in JupyterLab);
figures the notebooks save land in build/figures/.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def main(names: list[str]) -> int:
    paths = [ROOT / "notebooks" / n for n in names] if names else sorted((ROOT / "notebooks").glob("*.ipynb"))
    out_dir = ROOT / "build"
    out_dir.mkdir(exist_ok=True)
    total = 0.0
    failed = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        try:
            client.execute()
            status = "ok"
        except Exception as err:  # report and keep going so one failure does not hide the rest
            status = f"FAILED: {type(err).__name__}"
            failed.append(path.name)
        wall = time.perf_counter() - start
        total += wall
        nbformat.write(nb, out_dir / path.name)
        print(f"{path.name:<40} {wall:7.1f} s  {status}", flush=True)
    print(f"{'total':<40} {total:7.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
