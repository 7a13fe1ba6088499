# hifi_nb: two commands do all setup on a fresh machine.
#   make test       create .venv, install, check the modules match the notebooks, run nbdev_test + pytest,
#                   then the wheel check (make wheel-check)
#   make readme     README.md from nbs/index.ipynb (tools/readme.py); make check-readme fails when they differ
#   make docs       the documentation site from the notebooks into _docs/ (tools/docs.py)
#   make wheel-check  build the wheel, install it without extras in a fresh venv, run what a pip user runs (~3 min)
#   make reproduce  create .venv, install, run the cpu profile grid (resumable), the efficiency study, the report
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
PROFILE ?= cpu
# worker processes for the grid (cores split between them; 2 one-thread workers beat one two-thread process
# on a 2-core machine by 1.18x in training steps, see nbs/13_reproduce.ipynb); JOBS=1 for a single process
JOBS ?= 2
# the project's data live beside the checkout in ../shared; an environment variable overrides
export HIFI_GLUE_DIR ?= $(if $(wildcard ../shared/glue),$(abspath ../shared/glue),)
export HIFI_SAM_DIR ?= $(if $(wildcard ../shared/sam_splits),$(abspath ../shared/sam_splits),)
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install test check-export readme check-readme docs nbtest pytest wheel-check reproduce efficiency report smoke clean

$(BIN)/.installed: settings.ini setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the CPU wheel of torch first: a bare `torch` requirement would pull a multi-GB CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]" torch==2.13.0
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

install: $(BIN)/.installed

check-export: install
	$(BIN)/nbdev_export
	@if git rev-parse --git-dir >/dev/null 2>&1 && [ -n "$$(git status --porcelain -- hifi_nb)" ]; then \
	  echo "nbdev_export changed hifi_nb/: the modules are out of sync with nbs/"; git status --short -- hifi_nb; exit 1; \
	else echo "nbdev_export: hifi_nb/ matches nbs/"; fi

# README.md is generated from nbs/index.ipynb with nbdev's notebook processors (tools/readme.py: nbdev_readme less
# quarto, which cannot be installed on this project's machines); `hifi-nb report --readme` writes both
readme: install
	$(BIN)/python tools/readme.py

check-readme: install
	$(BIN)/python tools/readme.py --check

# the documentation site into _docs/ (ignored): nbdev's processing of every notebook, then quarto. Quarto comes
# from PyPI's quarto-cli, put into the venv here (not a requirement of the package); that sdist downloads the
# quarto binary from GitHub while it builds, so where GitHub cannot be reached tools/docs.py says so and renders
# the same processed notebooks with nbconvert (plain pages, no search)
docs: install
	@export PATH="$(abspath $(BIN)):$$PATH"; command -v quarto >/dev/null || { \
	  echo "installing quarto-cli into $(VENV) ..."; \
	  $(BIN)/pip install -q --no-deps quarto-cli >$(VENV)/quarto-cli-install.log 2>&1 \
	  || echo "quarto-cli could not be installed (it downloads the quarto binary while it builds; see $(VENV)/quarto-cli-install.log)"; }; \
	$(BIN)/python -W ignore tools/docs.py

nbtest: install
	cd nbs && ../$(BIN)/nbdev_test --n_workers 2 --do_print

pytest: install
	$(BIN)/pytest -q tests

# the wheel, installed without extras into a fresh venv and used from outside the checkout (tools/wheel_check.sh):
# the README's API example, prepare() for every registered method, hifi-nb reproduce --profile smoke --limit 1
wheel-check:
	PYTHON=$(PYTHON) bash tools/wheel_check.sh

test: check-export check-readme nbtest pytest wheel-check

smoke: install
	$(BIN)/hifi-nb reproduce --profile smoke

reproduce: install
	$(BIN)/hifi-nb reproduce --profile $(PROFILE) --jobs $(JOBS)
	$(BIN)/hifi-nb efficiency
	$(BIN)/hifi-nb report --profile $(PROFILE) --readme README.md

clean:
	rm -rf $(VENV) _proc _docs .pytest_cache

# GPU check (README, "GPUs and several processes"): `make gpu-bundle` here prepares gpu_bundle/ (ignored, 16 MiB);
# `make gpu-check` on a machine with one GPU uses that machine's Python (the venv's if there is one) with the tree
# on PYTHONPATH, and writes results/gpu/; without a GPU it stops at once with one line
GPU_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
.PHONY: gpu-bundle gpu-check
gpu-bundle: install
	$(BIN)/python tools/gpu_bundle.py --out gpu_bundle

gpu-check:
	@PYTHONPATH=. $(GPU_PYTHON) tools/gpu_check.py --bundle gpu_bundle
