"""``compile_cell``: a ``MemoryController`` whose time step is compiled with ``torch.compile`` (the benchmarks'
``--compile``; ``bench_dnc.py --compile`` measures when it pays)."""

import torch


def compile_cell(model, **options):
    """Compile ``model``'s time step, which ``forward`` then runs at every step; returns ``model``."""
    model._compiled_step = torch.compile(model._time_step, **{"fullgraph": True, "dynamic": False, **options})
    return model
