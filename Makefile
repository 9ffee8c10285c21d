# The two commands of the README: `make demo` and `make test`. Both create .venv when it is
# missing and reinstall only when pyproject.toml changed, so re-running them is fast.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
PYTEST_ARGS ?=

.PHONY: demo test lint unit system-deps bench clean

$(PY):
	python3 -m venv $(VENV)

$(VENV)/.installed-all: pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[all]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed-all

demo: $(VENV)/.installed-all
	$(VENV)/bin/lepton demo

system-deps:
	@bash scripts/system-deps.sh

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy src

# one pytest-xdist worker per CPU (PYTEST_WORKERS=0: one process); tests/conftest.py keeps each
# test file, and the browser and dashboard folders, whole on one worker. The Ray tests share one
# Ray session, so they run after, in one process, in a loopback-only network namespace.
PYTEST_WORKERS ?= auto
test: $(VENV)/.installed-dev system-deps lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m "not ray" $(PYTEST_ARGS)
	bash scripts/ray-tests.sh $(PY) $(PYTEST_ARGS)

bench: $(VENV)/.installed-dev
	$(PY) bench/startup.py
	$(PY) bench/tracking.py
	$(PY) bench/training.py
	$(PY) bench/serving.py
	$(PY) bench/server.py
	$(PY) bench/dashboard.py
	$(PY) bench/tuning.py
	$(PY) bench/compression.py
	$(PY) bench/capacity.py
	bash scripts/ray-netns.sh $(PY) bench/ray.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache lepton-demo
