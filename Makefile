# Two commands on a fresh machine: `make demo` (the whole course into out/) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch first, pinned: on this machine a CPU wheel from local disk; elsewhere an ordinary release.
TORCH := torch==2.13.0

.PHONY: demo test install bench clean

$(BIN)/activate:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/mlplab course -o out/
	@echo "Gallery: $(CURDIR)/out/index.html"

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf out build *.egg-info
