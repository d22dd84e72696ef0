"""Compare every notebook's `make run` time with an earlier commit's, on this machine, side by side.

    python tools/time_against.py 381e6ee                  # all notebooks, 4 rounds, both at once (2+ cores)
    python tools/time_against.py 381e6ee --sequential     # one at a time, in the order earlier, now, now, earlier
    python tools/time_against.py 381e6ee --rounds 6 01_foundations.ipynb

The earlier commit is checked out in a temporary git worktree that imports its own `helpers` (PYTHONPATH). By
default each round runs a notebook of both commits at the same time, each pinned to its own core (`taskset`; the
cores swap every round), so a slowdown of the whole machine during the pair hits both and cancels in their
difference; `--sequential` interleaves single runs instead (ABBA). Prints, per notebook, the median time of each
side and the mean of the paired differences with its range, and the load average. Nothing else should run meanwhile.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start(tree: Path, notebook: str, core: int | None) -> subprocess.Popen:
    """`tools/run_notebooks.py notebook` in ``tree`` (a fresh kernel), pinned to ``core`` unless None."""
    pin = ["taskset", "-c", str(core)] if core is not None else []
    return subprocess.Popen([*pin, sys.executable, "tools/run_notebooks.py", notebook], cwd=tree,
                            env={**os.environ, "PYTHONPATH": str(tree)}, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def seconds(run: subprocess.Popen, notebook: str) -> float:
    """The wall time the runner reports for ``notebook``; raises if it did not pass."""
    out = run.communicate()[0]
    found = re.search(rf"{re.escape(notebook)}\s+([\d.]+) s\s+PASS", out)
    if found is None:
        raise RuntimeError(f"{notebook} did not pass:\n{out[-2000:]}")
    return float(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the earlier commit")
    parser.add_argument("notebooks", nargs="*", help="notebook file names (default: all)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--sequential", action="store_true", help="one run at a time (ABBA) instead of pairs")
    args = parser.parse_intermixed_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    known = sorted(p.name for p in (ROOT / "notebooks").glob("0*.ipynb"))
    unknown = [name for name in args.notebooks if name not in known]
    if unknown:
        parser.error(f"unknown notebooks {unknown}; choose from {known}")
    found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{args.rev}^{{commit}}"], cwd=ROOT,
                           capture_output=True, text=True, check=False)
    if found.returncode != 0:
        parser.error(f"rev must name a commit of this repository, got {args.rev!r}")
    notebooks = args.notebooks or known
    times = {name: {"before": [], "now": []} for name in notebooks}
    with tempfile.TemporaryDirectory() as folder:
        before = Path(folder) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), args.rev], cwd=ROOT, check=True,
                       capture_output=True)
        trees = {"before": before, "now": ROOT}
        try:
            (before / ".venv").symlink_to(ROOT / ".venv")
            for round_ in range(args.rounds):
                for name in notebooks:
                    if args.sequential:
                        for side in ("before", "now", "now", "before"):
                            times[name][side].append(seconds(start(trees[side], name, None), name))
                    else:
                        cores = {"before": round_ % 2, "now": 1 - round_ % 2}
                        runs = {side: start(trees[side], name, cores[side]) for side in trees}
                        for side, run in runs.items():
                            times[name][side].append(seconds(run, name))
                    print(f"round {round_ + 1}, {name}: {times[name]}", file=sys.stderr, flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, check=False)
    rev, per_round = args.rev, 2 if args.sequential else 1  # runs per side and round
    print(f"| notebook | {rev} median s | now median s | now minus {rev}: mean of rounds (range) | samples |")
    print("|---|---:|---:|---:|---|")
    for name, sides in times.items():
        rounds = [slice(k * per_round, (k + 1) * per_round) for k in range(args.rounds)]
        pairs = [statistics.mean(sides["now"][r]) - statistics.mean(sides["before"][r]) for r in rounds]
        b, n = statistics.median(sides["before"]), statistics.median(sides["now"])
        print(f"| {name} | {b:.1f} | {n:.1f} | {statistics.mean(pairs):+.1f} ({min(pairs):+.1f} to {max(pairs):+.1f}) "
              f"| {sides['before']} / {sides['now']} |")
    total_b = sum(statistics.median(s["before"]) for s in times.values())
    total_n = sum(statistics.median(s["now"]) for s in times.values())
    print(f"| total | {total_b:.1f} | {total_n:.1f} | {total_n - total_b:+.1f} (medians) | |")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
