# The README's commands: `make test` (the whole suite) and `make demo` (the main job).
# Every target installs what it needs into .venv first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo lint typecheck pytest bench generate build-ext clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "setuptools>=69" wheel "Cython>=3.0"
	$(PY) -m pip install --quiet -e ".[dev]"
	$(MAKE) build-ext
	touch $(STAMP)

# The compiled codec, built in place next to its .pyx (editable installs import from src/).
build-ext:
	$(PY) setup.py --quiet build_ext --inplace

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(PY) -m ruff check src tests tools benchmarks examples
	$(PY) -m ruff format --check src tests tools benchmarks examples

typecheck: $(STAMP)
	$(PY) -m mypy

pytest: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) examples/demo_mix.py ../shared/bench/mix-v201.jsonl

bench: $(STAMP)
	$(PY) benchmarks/compare.py

generate: $(STAMP)
	$(PY) tools/generate_models.py

clean:
	rm -rf $(VENV) build src/ocpp_fast/*.so src/ocpp_fast/_codec_c.c
