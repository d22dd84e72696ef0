"""Shared code of the neural-memory-agent notebook series.

Each notebook's `#| export` cells generate one module here (see `helpers/export.py`):
01 -> foundations, 02 -> memory, 03 -> controller, 04 -> replay, 05 -> maml, 06 -> agent,
07 -> experiments. `plumbing`, `checks` (argument checks), `export` and `launch` are hand-written
plumbing.
"""

__version__ = "0.1.0"
