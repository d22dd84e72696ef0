"""Execute notebooks headless, in order, each from a fresh kernel, and report pass/fail and wall time.

Usage (what `make run` and `make seeds` call):

    python tools/run_notebooks.py [NOTEBOOK ...]                 # into build/, writes build/times.json
    python tools/run_notebooks.py [NOTEBOOK ...] --seed 3        # NMA_SEED=3, into build/seed-3/
    python tools/run_notebooks.py [NOTEBOOK ...] --seed 1 2 3    # one folder per seed + build/seeds.md

NOTEBOOK names are files in notebooks/ (default: all of them). Each notebook runs in notebooks/ (so
relative paths behave as in JupyterLab). The executed copies, with their outputs, land in the output
folder, and the figures the notebooks save in its figures/ subfolder (through NMA_BUILD_DIR). Every
run writes times.json there, keeping the records of notebooks it did not run (the book, `make book`,
reads build/times.json); several seeds also write
build/seeds.md, a notebook-by-seed table of pass/fail. The exit status is 1 when any notebook failed.

On Linux and macOS kernels talk over IPC (Unix domain sockets, ``KernelManager.transport = "ipc"``): no
network port is opened, and ipykernel has no "running over TCP without encryption" warning to print. On
Windows, which has no IPC transport, kernels start with manager-provisioned CurveZMQ keys
(``KernelManager.transport_encryption = "auto"``) instead. (Under heavy load, two runs with encrypted TCP
kernels hung here, the kernel idle and the runner waiting for a message until the cell timeout.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from traitlets.config import Config

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build"
MAX_SEED = 2**32 - 1  # the series' seed range (helpers.checks.MAX_SEED)


def kernel_config(socket_dir: str) -> Config:
    """IPC sockets in ``socket_dir`` (an absolute path: the kernel runs in the notebook's folder, so a relative
    socket name would resolve differently for it and for us); CurveZMQ over TCP where there is no IPC."""
    if os.name == "posix":
        return Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(socket_dir, "kernel")}})
    return Config({"KernelManager": {"transport_encryption": "auto"}})


def seed_arg(text: str) -> int:
    """argparse type: a seed in [0, MAX_SEED]."""
    if not text.isdecimal() or int(text) > MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed must be a whole number in [0, {MAX_SEED}], got {text!r}")
    return int(text)


def notebook_paths(names: list[str]) -> list[Path]:
    """The notebooks to run, in series order; a name that is not a notebook in notebooks/ is an error."""
    if not names:
        return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    paths = []
    for name in names:
        path = NOTEBOOKS / Path(name).name
        if path.suffix != ".ipynb" or not path.is_file():
            raise SystemExit(f"run_notebooks: {name!r} is not a notebook in {NOTEBOOKS}")
        paths.append(path)
    return paths


def shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (shorter output)."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def failure_summary(err: Exception) -> str:
    """One line saying why a notebook failed: the exception raised in the failing cell, else the error's type."""
    if isinstance(err, CellExecutionError):
        first_line = (err.evalue or "").strip().splitlines()[:1]
        return f"{err.ename}: {first_line[0][:100]}" if first_line else err.ename
    return type(err).__name__


def run_one(path: Path, out_dir: Path, timeout: int) -> dict:
    """Execute ``path`` from a fresh kernel; write the executed copy into ``out_dir``; return its record."""
    nb = nbformat.read(path, as_version=4)
    # CI exports MPLBACKEND=Agg; a kernel inheriting it draws nothing at plt.show(), and the executed notebooks
    # (and so the book) would lose every figure. Kernels use their inline backend instead.
    os.environ.pop("MPLBACKEND", None)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nma-kernel-") as socket_dir:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", config=kernel_config(socket_dir),
                                resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
            record = {"status": "pass", "error": ""}
        except Exception as err:  # report and keep going so one failure does not hide the rest
            record = {"status": "fail", "error": failure_summary(err)}
    record["seconds"] = round(time.perf_counter() - start, 1)
    nbformat.write(nb, out_dir / path.name)
    return record


def run_series(paths: list[Path], out_dir: Path, seed: int | None, timeout: int) -> dict:
    """Run every notebook in ``paths`` into ``out_dir`` (NMA_SEED=seed when given); write times.json there."""
    out_dir.mkdir(parents=True, exist_ok=True)
    load = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    os.environ["NMA_BUILD_DIR"] = str(out_dir)  # figures go to <out_dir>/figures (helpers.plumbing.save_figure)
    if seed is not None:
        os.environ["NMA_SEED"] = str(seed)
    seed_used = seed if seed is not None else (int(os.environ["NMA_SEED"]) if os.environ.get("NMA_SEED") else None)
    print(f"running {len(paths)} notebook(s) into {shown(out_dir)} "
          f"(seed {'default' if seed_used is None else seed_used})", flush=True)
    results = {}
    for path in paths:
        record = run_one(path, out_dir, timeout)
        record.update(seed=seed_used, finished=f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
        results[path.name] = record
        detail = f"  ({record['error']})" if record["error"] else ""
        print(f"  {path.name:<40} {record['seconds']:7.1f} s  {record['status'].upper()}{detail}", flush=True)
    this_run = {"seed": seed_used, "device": os.environ.get("NMA_DEVICE", "auto"),
                "finished": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
                "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "load_average_at_start": load}
    # times.json keeps the latest record of every notebook, so running one notebook keeps the others' times
    times_path = out_dir / "times.json"
    earlier = json.loads(times_path.read_text()).get("notebooks", {}) if times_path.is_file() else {}
    merged = dict(sorted({**earlier, **results}.items()))
    total = round(sum(r["seconds"] for r in merged.values()), 1)
    times_path.write_text(json.dumps({**this_run, "total_seconds": total, "notebooks": merged}, indent=2) + "\n")
    return {**this_run, "total_seconds": round(sum(r["seconds"] for r in results.values()), 1), "notebooks": results}


def results_table(runs: dict[str, dict]) -> str:
    """A markdown table: one row per notebook, one column per run (``PASS 12.3 s`` / ``FAIL (why)``)."""
    columns = list(runs)
    names = list(dict.fromkeys(name for run in runs.values() for name in run["notebooks"]))
    lines = ["| notebook | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for name in names:
        cells = []
        for run in runs.values():
            record = run["notebooks"].get(name)
            if record is None:
                cells.append("")
            elif record["status"] == "pass":
                cells.append(f"pass, {record['seconds']:.1f} s")
            else:
                cells.append(f"**FAIL** ({record['error'].replace('|', '/')})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    totals = [f"{run['total_seconds']:.1f} s" for run in runs.values()]
    lines.append("| total | " + " | ".join(totals) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebook file names in notebooks/ (default: all)")
    parser.add_argument("--seed", type=seed_arg, nargs="+", metavar="N",
                        help="run with NMA_SEED=N into build/seed-N/; several seeds also write build/seeds.md")
    parser.add_argument("--timeout", type=int, default=900, help="seconds one cell may take (default 900)")
    args = parser.parse_args(argv)
    paths = notebook_paths(args.notebooks)
    if not args.seed:
        runs = {"result": run_series(paths, BUILD, None, args.timeout)}
    else:
        runs = {f"seed {seed}": run_series(paths, BUILD / f"seed-{seed}", seed, args.timeout) for seed in args.seed}
    table = results_table(runs)
    print("\n" + table)
    if args.seed and len(args.seed) > 1:
        load = runs[next(iter(runs))]["load_average_at_start"]
        header = (f"# Notebooks at several seeds\n\n`python tools/run_notebooks.py {' '.join(argv)}`, "
                  f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
                  f"NMA_DEVICE={os.environ.get('NMA_DEVICE', 'auto')}, load average at start {load}.\n\n")
        (BUILD / "seeds.md").write_text(header + table + "\n")
        print(f"\nwrote {shown(BUILD / 'seeds.md')}")
    failed = any(r["status"] != "pass" for run in runs.values() for r in run["notebooks"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
