"""What a contract costs per call: the series' `@checked` + `helpers.checks` against jaxtyping + beartype.

Times three versions of one small public function (a content read: memory (B, N, D), keys (B, H, D),
sharpness (B, H)) in one process, interleaved: no contract, `@checked(...)` with `check_tensor` named shapes,
and jaxtyping's `Float[Tensor, "B N D"]` annotations checked by beartype. jaxtyping and beartype are not
dependencies of the series; install them to run this (`pip install jaxtyping beartype`).

    python benchmarks/bench_contracts.py [--reps 20000]

Writes benchmarks/results/contracts.md.
"""


import argparse
import os
import platform
import time
from pathlib import Path

import torch

from helpers.checks import check_tensor, checked


def read(memory, keys, sharpness):
    scores = torch.einsum("bhd,bnd->bhn", keys, memory) * sharpness.unsqueeze(-1)
    return torch.einsum("bhn,bnd->bhd", scores.softmax(-1), memory)


def _check_read(memory, keys, sharpness):
    dims = check_tensor("memory", memory, "B N D")
    check_tensor("keys", keys, "B H D", dims=dims, like=memory)
    check_tensor("sharpness", sharpness, "B H", dims=dims, like=memory)


checked_read = checked(_check_read)(read)


def jaxtyped_read():
    from beartype import beartype
    from jaxtyping import Float, jaxtyped
    from torch import Tensor

    @jaxtyped(typechecker=beartype)
    def read_typed(memory: Float[Tensor, "B N D"], keys: Float[Tensor, "B H D"],  # noqa: F722
                   sharpness: Float[Tensor, "B H"]) -> Float[Tensor, "B H D"]:  # noqa: F722
        return read(memory, keys, sharpness)

    return read_typed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20_000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    memory, keys, sharpness = torch.randn(8, 64, 16), torch.randn(8, 2, 16), torch.rand(8, 2)
    versions = {"no contract": read, "@checked + check_tensor": checked_read}
    try:
        versions["jaxtyping + beartype"] = jaxtyped_read()
    except ImportError:
        print("jaxtyping/beartype not installed: timing the series' own contract only")
    times = {name: [] for name in versions}
    for _ in range(5):  # interleaved rounds, best of five
        for name, fn in versions.items():
            start = time.perf_counter()
            for _ in range(args.reps):
                fn(memory, keys, sharpness)
            times[name].append((time.perf_counter() - start) / args.reps * 1e6)
    base = min(times["no contract"])
    lines = ["# Contract cost per call", "",
             f"`python benchmarks/bench_contracts.py --reps {args.reps}`; {platform.machine()}, "
             f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}, "
             "best of 5 interleaved rounds.", "",
             "| version | µs per call | contract cost, µs |", "|---|---:|---:|"]
    for name, values in times.items():
        lines.append(f"| {name} | {min(values):.1f} | {min(values) - base:+.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(__file__).resolve().parent / "results" / "contracts.md"
    out.write_text(text)


if __name__ == "__main__":
    main()
