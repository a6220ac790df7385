# Réactif — the two commands: `make run` and `make test`.
.DEFAULT_GOAL := help
SHELL := /bin/bash

# The first Python >= 3.12 found (pyenv's 3.13 on our machines).
PYTHON ?= $(shell for p in python3.13 python3.12 $(HOME)/.pyenv/versions/3.13.0/bin/python python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
	&& { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
SERVICES := python3 scripts/services.py
PYTEST_ARGS ?=

.PHONY: help run test test-fast lint services services-stop bench bench-quick bench-ingest bench-inbox bench-dashboard messages screenshots clean

help:
	@echo "make run     - the whole app with demo data (SQLite, no server needed)"
	@echo "make test    - the whole suite on real PostgreSQL and Redis (started here)"
	@echo "make lint    - ruff and mypy"
	@echo "make bench   - benchmarks (see docs/performance.md)"
	@echo "make chaos / fuzz / load - fault, hostile-input and load runs (see docs/reliability.md)"

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Réactif needs Python >= 3.12 (python3.12 or python3.13 on PATH)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv

$(VENV)/.runtime: requirements.lock | $(BIN)/python
	$(BIN)/python -m uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock
	touch $@

$(VENV)/.dev: requirements-dev.lock | $(BIN)/python
	$(BIN)/python -m uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements-dev.lock
	touch $@ $(VENV)/.runtime

run: $(VENV)/.runtime
	DEBUG=1 $(BIN)/python manage.py runstack

services:
	@$(SERVICES) start > var/services.env 2>/dev/null || { mkdir -p var && $(SERVICES) start > var/services.env; }
	@cat var/services.env

services-stop:
	$(SERVICES) stop

# Tests run with DEBUG off, so with the production static files manifest.
# Collected into a new directory, then `staticfiles` (a symlink) is swapped
# to it in one rename: a test run going on meanwhile never sees a half-empty
# tree. The two latest collections are kept.
staticfiles/staticfiles.json: $(VENV)/.dev $(shell find static -type f)
	@set -e; mkdir -p var; dest=var/static-$$(date +%s%N); \
	env -u DATABASE_URL -u REDIS_URL STATIC_ROOT=$$PWD/$$dest REACTIF_VAR_DIR=var/collect DEBUG=0 \
		SECRET_KEY=collectstatic-only-$$(head -c 48 /dev/urandom | base64 | tr -dc A-Za-z0-9) \
		$(BIN)/python manage.py collectstatic --noinput -v0; \
	if [ -d staticfiles ] && [ ! -L staticfiles ]; then rm -rf staticfiles; fi; \
	ln -sfn $$dest staticfiles.next && mv -T staticfiles.next staticfiles; \
	ls -d var/static-* | sort | head -n -2 | xargs -r rm -rf

test: $(VENV)/.dev services staticfiles/staticfiles.json
	source var/services.env && $(BIN)/pytest $(PYTEST_ARGS)

# Without the browser and stack tests: the quick loop while coding.
test-fast: $(VENV)/.dev services
	source var/services.env && $(BIN)/pytest -m "not browser and not stack" $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true
	DEBUG=1 $(BIN)/mypy config inbox templates_app

# The French catalogue (needs gettext; the compiled .mo is committed, so
# `make run` does not). English is the source language: no en catalogue.
# No djangojs domain either: static/js shows no text of its own, templates
# hand it translated words in data-* attributes. Translate what this adds
# (no msgstr "" and no fuzzy left: tests/test_i18n.py), then compile.
messages: $(VENV)/.dev
	DEBUG=1 $(BIN)/python manage.py makemessages -l fr --add-location=file --ignore=.venv --ignore='staticfiles*' \
		--ignore=static/vendor --ignore=var --ignore=bench --ignore=chaos --ignore=load --ignore=tests --ignore=docs
	DEBUG=1 $(BIN)/python manage.py compilemessages --ignore=.venv

clean:
	rm -rf var/reactif.sqlite3* var/broker var/cache var/celerybeat-schedule* staticfiles var/static-*

# Benchmarks (docs/performance.md): real PostgreSQL and Redis started as for
# `make test`, in a database of their own (reactif_bench). Results go to
# bench/results/<date>[-suite][-quick].json and .md.
.PHONY: bench-saved-replies
BENCH := source var/services.env && $(BIN)/python -m bench.run

bench: $(VENV)/.dev services staticfiles/staticfiles.json
	$(BENCH) --suite all

bench-quick: $(VENV)/.dev services staticfiles/staticfiles.json
	$(BENCH) --suite all --quick

bench-ingest: $(VENV)/.dev services staticfiles/staticfiles.json
	$(BENCH) --suite ingest

bench-inbox: $(VENV)/.dev services staticfiles/staticfiles.json
	$(BENCH) --suite inbox

bench-dashboard: $(VENV)/.dev services staticfiles/staticfiles.json
	$(BENCH) --suite dashboard

bench-saved-replies: $(VENV)/.dev services staticfiles/staticfiles.json
	$(BENCH) --suite saved-replies

# --- Reliability (docs/reliability.md): the heavy runs, outside `make test` ------
.PHONY: chaos fuzz load
CHAOS_ARGS ?=
LOAD_ARGS ?=
FUZZ_EXAMPLES ?= 100000
FUZZ_DB_EXAMPLES ?= 2000
FUZZ_FORM_EXAMPLES ?= 100000

# The fault scenarios (Redis, worker, PostgreSQL, second beat) while 10,000
# deliveries arrive, on a stack with its own PostgreSQL/Redis ports.
chaos: $(VENV)/.dev staticfiles/staticfiles.json
	$(BIN)/python chaos/run.py $(CHAOS_ARGS)

# The webhook and form fuzzers at full size; prints Hypothesis' statistics.
fuzz: $(VENV)/.dev services
	source var/services.env && REACTIF_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) REACTIF_FUZZ_DB_EXAMPLES=$(FUZZ_DB_EXAMPLES) \
		REACTIF_FUZZ_FORM_EXAMPLES=$(FUZZ_FORM_EXAMPLES) \
		$(BIN)/pytest tests/test_fuzz_webhooks.py tests/test_fuzz_forms.py -q --hypothesis-show-statistics $(PYTEST_ARGS)

# 30 minutes at 50 deliveries/s with 20 agents polling and replying
# (LOAD_ARGS="--duration 300" for a shorter run); exit 1 if a target is missed.
load: $(VENV)/.dev staticfiles/staticfiles.json
	$(BIN)/python load/run.py --check $(LOAD_ARGS)
