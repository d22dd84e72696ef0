"""Exit 1 when helpers/ differs from what the notebooks' `#| export` cells generate (the pre-commit hook
"export sync"; tests/test_export_sync.py checks the same in `make test`). Fix with `make export`."""

from __future__ import annotations

import sys

from helpers.export import out_of_sync


def main() -> int:
    stale = out_of_sync()
    if stale:
        print(f"helpers/{', '.join(stale)} differ from the notebooks' `#| export` cells: run `make export`")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
