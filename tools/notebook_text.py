"""Edit a notebook as plain text and convert it back (author-side convenience; the .ipynb stays the
one source of truth and the text form is never committed).

    python tools/notebook_text.py to-text notebooks/02_memory_bank.ipynb /tmp/02.py
    python tools/notebook_text.py to-notebook /tmp/02.py notebooks/02_memory_bank.ipynb
    make export launch        # regenerate helpers/ and restamp the launch cells

Text form ("percent" format): a line `# %%` starts a code cell and `# %% [markdown]` a markdown
cell, optionally followed by ` tags=["a", "b"]`; markdown lines carry a leading "# ". Outputs are
never written: notebooks are committed with outputs cleared. A cell tagged "solution" (an exercise's
worked solution) is written collapsed (``metadata.jupyter.source_hidden``), so a learner clicks to see it;
a cell tagged "plumbing" (argument checks, file formats, bookkeeping) is written with its source folded.
"""

from __future__ import annotations

import json
import re
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HEADER = re.compile(r"^# %%(?P<md> \[markdown\])?(?:\s+tags=(?P<tags>\[.*\]))?\s*$")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def to_text(nb: nbformat.NotebookNode) -> str:
    chunks = []
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        head = "# %%" + (" [markdown]" if cell.cell_type == "markdown" else "")
        head += f" tags={json.dumps(tags)}" if tags else ""
        if cell.cell_type == "markdown":
            body = "\n".join(f"# {line}" if line else "#" for line in cell.source.split("\n"))
        else:
            body = cell.source
        chunks.append(f"{head}\n{body}\n")
    return "\n".join(chunks)


def to_notebook(text: str) -> nbformat.NotebookNode:
    cells, current = [], None
    for line in text.splitlines():
        match = HEADER.match(line)
        if match:
            if current:
                cells.append(current)
            tags = json.loads(match.group("tags")) if match.group("tags") else []
            current = {"markdown": bool(match.group("md")), "tags": tags, "lines": []}
        elif current is not None:
            current["lines"].append(line)
    if current:
        cells.append(current)
    out = []
    for i, spec in enumerate(cells):
        lines = spec["lines"]
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        if spec["markdown"]:
            cell = new_markdown_cell("\n".join(line[2:] if line.startswith("# ") else "" if line == "#" else line
                                               for line in lines))
        else:
            cell = new_code_cell("\n".join(lines))
        if spec["tags"]:
            cell.metadata["tags"] = spec["tags"]
        if "solution" in spec["tags"]:  # exercise solutions start collapsed in JupyterLab
            cell.metadata["jupyter"] = {"source_hidden": True, "outputs_hidden": True}
        elif "plumbing" in spec["tags"]:  # plumbing (checks, file formats, bookkeeping) starts folded
            cell.metadata["jupyter"] = {"source_hidden": True}
        cell["id"] = f"cell-{i:03d}"
        out.append(cell)
    nb = new_notebook(cells=out)
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    nbformat.validate(nb)
    return nb


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("to-text", "to-notebook"):
        print(__doc__)
        return 2
    command, source, target = argv
    if command == "to-text":
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(to_text(nbformat.read(source, as_version=4)))
    else:
        with open(source, encoding="utf-8") as handle:
            nbformat.write(to_notebook(handle.read()), target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
