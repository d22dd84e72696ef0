"""The package says what it needs and carries what it ships.

* every third-party module that ``helpers`` imports is a declared dependency in pyproject.toml
  (torch excepted on purpose: installing helpers must never replace an existing torch build);
* the wheel carries the shipped weights (package data, found through ``helpers.plumbing.weights_dir()``);
* that wheel, installed with its declared dependencies into a fresh virtual environment (plus torch from
  the pin in requirements.txt), imports every module and finds the weights.

The fresh-environment test takes about 1-3 minutes on 2 cores (pip copies torch's wheel from its cache).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "helpers"
# import name -> distribution name, where they differ
DISTRIBUTION = {"sklearn": "scikit-learn", "yaml": "pyyaml"}
NOT_DECLARED = {"torch"}  # on purpose (see pyproject.toml)
WEIGHT_SUFFIXES = (".safetensors", ".sha256", ".json")


def _declared() -> set[str]:
    tomllib = pytest.importorskip("tomllib", reason="Python >= 3.11 reads pyproject.toml")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {re.split(r"[<>=!~ ;\[]", dep, maxsplit=1)[0].lower() for dep in project["dependencies"]}


def _third_party_imports() -> set[str]:
    found = set()
    for path in HELPERS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name != "helpers"}


def _pin(name: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.split("==")[0].strip().lower() == name:
            return line.strip()
    raise AssertionError(f"requirements.txt pins no {name}")


def test_every_runtime_import_is_declared():
    imports = _third_party_imports()
    assert {"numpy", "sklearn", "scipy", "safetensors"} <= imports, imports  # the scan sees them
    missing = {DISTRIBUTION.get(name, name) for name in imports - NOT_DECLARED} - _declared()
    assert not missing, f"helpers imports {sorted(missing)} but pyproject.toml does not declare them"
    assert "torch" not in _declared(), "torch stays undeclared: it would replace Colab's CUDA build"


def test_every_declared_dependency_is_pinned():
    pins = {line.split("==")[0].strip().lower() for line in (ROOT / "requirements.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#")}
    assert _declared() <= pins, f"unpinned: {sorted(_declared() - pins)}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built without network from a copy of the sources (the checkout's build/ is left alone)."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(HELPERS, source / "helpers", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(base / "dist"),
                    str(source)], check=True, capture_output=True, text=True)
    (built,) = (base / "dist").glob("*.whl")
    return built


def test_the_wheel_carries_the_shipped_weights(wheel):
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = sorted(p.relative_to(ROOT).as_posix() for p in (HELPERS / "weights").iterdir()
                     if p.name.endswith(WEIGHT_SUFFIXES))
    assert shipped, "helpers/weights/ holds no shipped weights"
    assert not set(shipped) - names, f"missing from the wheel: {sorted(set(shipped) - names)}"


def test_the_wheel_installs_into_a_fresh_environment_and_imports_every_module(wheel, tmp_path):
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    # torch from the local pin (an unpinned torch would pull several GB of CUDA packages); the rest is
    # exactly what the wheel declares.
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              _pin("torch"), str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    modules = sorted(p.stem for p in HELPERS.glob("*.py") if not p.stem.startswith("_"))  # the public modules
    script = (
        "import importlib, pathlib, helpers\n"
        "from helpers.plumbing import weights_dir\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module('helpers.' + name)\n"
        "site = pathlib.Path(helpers.__file__).resolve().parent\n"
        "assert 'site-packages' in site.parts, site\n"
        "assert weights_dir() == site / 'weights' and any(weights_dir().glob('*.safetensors')), weights_dir()\n"
        "print('imported', len(" + repr(modules) + "), 'modules from', site)\n"
    )
    run = subprocess.run([str(python), "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
