# faultlab: two commands do everything, from a machine with nothing installed.
#   make test              unit tests + every scenario against real containers
#   make scenario-<id>     one scenario (see `make list`)
# Both create the venv, find or start a Docker engine (and stop it again if they started it),
# and build the images on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BUNDLE ?= faultlab-bundle.tar

.PHONY: test unit bench list engine images clean lint venv workshop calibrate

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

venv: $(STAMP)

# Unit tests first (a failure there stops before any engine work), then the engine tests in two processes
# (pytest-xdist; every test of one scenario in the same process, which runs that scenario once).
test: $(STAMP)
	$(BIN)/python -m pytest tests/unit -n 2
	$(BIN)/faultlab with-engine -- sh -c '$(BIN)/faultlab images && $(BIN)/python -m pytest tests/scenarios -n 2 --dist loadgroup --no-loadscope-reorder --durations=25'

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

scenario-%: $(STAMP)
	$(BIN)/faultlab with-engine -- $(BIN)/faultlab run $*

# Speed and memory against ab, curl and the issue's targets (about 10 minutes; not part of `make test`).
bench: $(STAMP)
	$(BIN)/faultlab with-engine -- sh -c '$(BIN)/faultlab images && $(BIN)/faultlab bench'

list: $(STAMP)
	@$(BIN)/faultlab list

engine: $(STAMP)
	$(BIN)/faultlab engine start

images: $(STAMP)
	$(BIN)/faultlab with-engine -- $(BIN)/faultlab images

# Before a workshop, with internet: venv, engine, images, and every image in one file for the room.
workshop: $(STAMP)
	$(BIN)/faultlab with-engine -- $(BIN)/faultlab images save $(BUNDLE)
	@echo "Ready. Carry to the room: this checkout and $(BUNDLE) ($$(du -h $(BUNDLE) | cut -f1))."
	@echo "On each laptop there (docker running, \`make venv\` done): .venv/bin/faultlab images load $(BUNDLE)"
	@echo "then: .venv/bin/faultlab run upload-journey --report out/   and open out/index.html"

clean: $(STAMP)
	$(BIN)/faultlab clean

# After a change to diagnose's corpus or ranking: count the corpus into diagnose's confidence table.
calibrate: $(STAMP)
	$(BIN)/python tests/unit/test_diagnose_corpus.py

lint: $(STAMP)
	$(BIN)/ruff check faultlab tests apps examples
	$(BIN)/mypy
	$(BIN)/lint-imports
