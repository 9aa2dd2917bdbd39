# ionto — the two commands: `make demo` and `make test`.  Everything else builds on them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test gui bench bench-quick fault soak lint clean install

$(STAMP): pyproject.toml ndx-iontophoresis/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e ./ndx-iontophoresis
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ionto demo

test: $(STAMP)
	QT_QPA_PLATFORM=$${QT_QPA_PLATFORM:-offscreen} $(BIN)/python -m pytest -q

gui: $(STAMP)
	$(BIN)/ionto gui

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# every benchmark of bench/ (about 15 min on 2 cores) -> bench/results.md + bench/results.json,
# then the long fault loops; BENCH_ARGS="--only bench_sim" for one of them
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench $(BENCH_ARGS)
	$(MAKE) fault
	$(MAKE) soak

# the short versions (a few minutes) -> bench/results-*.md, not the committed table
bench-quick: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench --quick --only $$(cd bench && ls bench_*.py | sed 's/\.py$$//')

# the long fault loops (50 SIGKILLs of a recording run; figures into docs/reliability.md);
# CI runs their short versions
fault: $(STAMP)
	IONTO_FIGURES=docs/reliability.md QT_QPA_PLATFORM=$${QT_QPA_PLATFORM:-offscreen} \
		$(BIN)/python -m pytest -q -s -m long

# 8 simulated hours through the full engine at full speed: RSS and file size per hour
soak: $(STAMP)
	$(BIN)/python tests/soak/soak.py --hours 8 --docs docs/reliability.md

clean:
	rm -rf $(VENV) build *.egg-info demo-out .pytest_cache .ruff_cache
