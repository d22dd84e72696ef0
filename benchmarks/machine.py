"""The one line every benchmark result starts with: what it ran on, measured when it is written.

The 1-minute load average is read, not assumed, so a result says whether the 2 cores were busy
with other work while it ran (timings from a loaded machine are inflated and noisy).
"""

from __future__ import annotations

import os
import platform

import numpy as np
import torch


def machine_line() -> str:
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    busy = (
        "other work was running, so absolute times are inflated"
        if load > 1.5
        else "little else was running"
    )
    return (
        f"Machine: {platform.machine()}, {cores} cores, 1-minute load average {load:.1f} when written ({busy}); "
        f"{torch.get_num_threads()} torch thread(s), torch {torch.__version__}, NumPy {np.__version__}, "
        f"Python {platform.python_version()}."
    )
