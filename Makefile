# Two commands on a fresh machine: `make demo` (the whole course into out/) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch first, pinned: on the build machine a CPU wheel from local disk; from plain PyPI on Linux x86
# the CUDA build (see the README); the package's own requirement is a range this pin satisfies.
TORCH := torch==2.13.0
# The browser the tests drive and the exports render with (BROWSER_PATH is what both read).
CHROMIUM ?= /usr/bin/chromium
APT_GET ?= apt-get
IS_ROOT ?= $(shell [ "$$(id -u)" = 0 ] && echo yes)

# Debian packages: how each is checked, and why mlplab needs it (said when it cannot be installed).
CHECK_python3-venv = $(PY) -c "import ensurepip, venv"
WHY_python3-venv = $(PY) -m venv needs ensurepip, which Debian ships in python3-venv
CHECK_chromium = test -x $(CHROMIUM)
WHY_chromium = the browser tests and PNG/GIF/MP4 exports drive Debian's Chromium at $(CHROMIUM)

# $(call debian,PACKAGES): as root, apt-get the missing ones; otherwise one line saying what to run.
define debian
missing=""; why=""; \
$(foreach p,$(1),$(CHECK_$(p)) >/dev/null 2>&1 || { missing="$$missing $(p)"; why="$$why; $(p): $(WHY_$(p))"; };) \
if [ -n "$$missing" ]; then \
  if [ "$(IS_ROOT)" != yes ]; then \
    echo "mlplab needs Debian packages it cannot install without root: run 'sudo apt-get update && sudo apt-get install -y$$missing', then make again ($${why#; })" >&2; \
    exit 1; \
  fi; \
  echo "Installing Debian packages:$$missing"; \
  export DEBIAN_FRONTEND=noninteractive; \
  $(APT_GET) update -qq && $(APT_GET) install -y -qq $$missing >/dev/null || exit 1; \
  $(foreach p,$(1),$(CHECK_$(p)) >/dev/null 2>&1 || { echo "mlplab: $(p) is still missing after apt-get install" >&2; exit 1; };) \
fi
endef

.PHONY: demo test test-slow notebooks install system-venv system-test bench clean

system-venv:
	@$(call debian,python3-venv)

system-test:
	@$(call debian,python3-venv chromium)

# Order-only: the system check runs on every make, but never forces the venv to be rebuilt.
$(BIN)/activate: | system-venv
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install -q -e ".[dev]"
	@echo "Compiling the compiled engine's kernels into numba's disk cache (once)"
	$(BIN)/python -c "from mlplab.engines.kernels import warm; warm()"
	touch $@

install: $(VENV)/.installed

# The course needs the package alone: not the dev extra's test tools, exporters and Ray.
$(VENV)/.installed-demo: $(BIN)/activate pyproject.toml
	$(BIN)/pip install -q -e .
	$(BIN)/python -c "from mlplab.engines.kernels import warm; warm()"
	touch $@

demo: $(VENV)/.installed-demo
	$(BIN)/mlplab course -o out/
	@echo "Gallery: $(CURDIR)/out/index.html"

test: system-test install
	BROWSER_PATH=$(CHROMIUM) $(BIN)/python -m pytest

# The long end-to-end checks only (`make test` runs them too).
test-slow: system-test install
	BROWSER_PATH=$(CHROMIUM) $(BIN)/python -m pytest -m slow

notebooks: install
	$(BIN)/pip install -q -e ".[notebook]"
	$(BIN)/jupyter lab notebooks/

bench: install
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf out build *.egg-info
