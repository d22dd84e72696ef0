# One-command entry points; the README states them first.
#   make lab   create .venv (once), install everything, open JupyterLab on notebooks/
#   make test  ruff + actionlint + unit tests + every notebook executed by nbval (what CI runs)
#   make run   execute every notebook headless into build/, printing a pass/fail table with wall times
#   make seeds execute the series at NMA_SEED 1, 2 and 3 (not in CI: too long); table in build/seeds.md
#   make book  turn the executed notebooks of `make run` into the book (Sphinx + myst-nb) in build/book/
#   make hooks install the repository's pre-commit hooks (ruff, nbstripout, export sync; all local)
#   make e2e   drive the notebooks' sliders and buttons, and the book, in a real browser (headless Chromium)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export NMA_DEVICE ?= auto

.PHONY: setup book-setup lab test lint unit notebooks run seeds book export launch e2e bench race weights hooks clean

$(STAMP): requirements.txt requirements-test.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 needed"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-test.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# The book's tools (Sphinx, myst-nb, sphinx-book-theme, MathJax): `make book` and `make test` (tests/test_book.py).
BOOK_STAMP := $(VENV)/.book-installed
$(BOOK_STAMP): requirements-book.txt $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-book.txt -c requirements.txt
	touch $(BOOK_STAMP)

book-setup: $(BOOK_STAMP)

# JupyterLab refuses to run as root unless told; containers and Binder-like machines often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG) $(LAB_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/actionlint -no-color -shellcheck=$(BIN)/shellcheck .github/workflows/*.yml

unit: setup
	$(BIN)/python -m pytest -q tests

notebooks: setup
	NMA_BUILD_DIR=$(CURDIR)/build/nbval $(BIN)/python -m pytest -q --nbval-lax --nbval-current-env -p no:randomly notebooks

test: setup book-setup
	$(BIN)/ruff check .
	$(BIN)/actionlint -no-color -shellcheck=$(BIN)/shellcheck .github/workflows/*.yml
	$(BIN)/python -m pytest -q tests
	NMA_BUILD_DIR=$(CURDIR)/build/nbval NMA_DEVICE=cpu $(BIN)/python -m pytest -q --nbval-lax --nbval-current-env --nbval-cell-timeout=300 -n 2 --dist loadscope notebooks

# Browser end-to-end test: JupyterLab + headless Debian Chromium; installs Chromium when missing.
e2e: setup book-setup
	bash tools/install_chromium.sh
	NMA_E2E=1 $(BIN)/python -m pytest -q -m e2e tests/e2e

# NOTEBOOKS="01_foundations.ipynb ..." restricts run and seeds to some notebooks (default: all).
run: setup
	$(BIN)/python tools/run_notebooks.py $(NOTEBOOKS)

# Seed robustness: every assert must hold at NMA_SEED 0-5; this runs 1-3 (build/seed-N/, build/seeds.md).
SEEDS ?= 1 2 3
seeds: setup
	$(BIN)/python tools/run_notebooks.py $(NOTEBOOKS) --seed $(SEEDS)

# The book: needs `make run` first (build/*.ipynb and build/times.json); nothing is executed again.
book: book-setup
	$(BIN)/python tools/build_book.py

export: setup
	$(BIN)/python -m helpers.export

launch: setup
	$(BIN)/python tools/launch.py

# Longer runs whose tables the README shows (each script writes benchmarks/results/<name>.md).
# bench_maml trains at the paper's budget (about 15 min on 2 cores); the others take seconds to minutes.
bench: setup
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-bench.txt
	$(BIN)/python benchmarks/bench_memory.py --reps 200 --batch 32
	$(BIN)/python benchmarks/bench_replay.py
	$(BIN)/python benchmarks/bench_split_digits.py --seeds 10
	$(BIN)/python benchmarks/bench_ablation.py
	$(BIN)/python benchmarks/bench_controller.py --memory-steps 1500 --lstm-steps 10000 --ablation-steps 2000
	$(BIN)/python benchmarks/bench_dnc.py --compile
	$(BIN)/python benchmarks/bench_maml.py
	$(BIN)/python benchmarks/bench_maml_speed.py

# The fair race on Split Digits (benchmarks/fair_race.py; notebook 07, section 5): about 75 min on 2 cores,
# one shard per core; `joint` runs twice (the held-out curve picks the epochs, then seeds 0-9 at them).
race: setup
	cd benchmarks && for phase in select report controls joint joint time; do \
	  ../$(BIN)/python fair_race.py $$phase --shard 0/2 & ../$(BIN)/python fair_race.py $$phase --shard 1/2 & wait; \
	done && ../$(BIN)/python fair_race.py table

# Fuzz the public API with bad inputs (about 5 min on 2 cores): categories per module, every unclear case.
.PHONY: fuzz
fuzz: setup
	mkdir -p build
	$(BIN)/python benchmarks/fuzz_api.py --out build/fuzz_api.json --md build/fuzz_api.md

# Retrain the shipped weights notebooks 03 (copy task) and 05 (sine MAML models) load (package data, helpers/weights/; several minutes).
weights: setup
	$(BIN)/python benchmarks/train_copy.py --memory-steps 3000 --content-steps 3000 --lstm-steps 40000 --seed 0
	for seed in 0 1 2 3 4 5; do $(BIN)/python benchmarks/train_maml.py --seed $$seed || exit 1; done

# pre-commit hooks (.pre-commit-config.yaml): every hook is local (repo: local), nothing is downloaded.
hooks: setup
	$(BIN)/pre-commit install

clean:
	rm -rf build
