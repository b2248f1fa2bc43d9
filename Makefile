# Ventanilla: the two commands are `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app wsgi
PORT   ?= 5000
HOST   ?= 127.0.0.1
# Links in mail point where `make run` serves, unless PORTAL_BASE_URL says otherwise (in
# production it is the portal's public address: README, Deployment shapes).
RUN_BASE_URL := $(or $(PORTAL_BASE_URL),http://$(HOST):$(PORT))
# More than one worker needs PORTAL_REDIS_URL (shared rate-limit counts).
WORKERS ?= 1

.PHONY: run test lint unit translations compile-translations migrate demo serve clean help

help:
	@echo "make run    install, migrate, load demo data, serve on http://$(HOST):$(PORT)"
	@echo "make test   lint and the whole test suite"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# pip shows its build backend's warnings; for an editable install setuptools warns only
# "Editable installation." (a note with nothing to act on), so that one is ignored.
PIP_INSTALL := PYTHONWARNINGS='ignore:Editable installation' $(BIN)/pip install --quiet

# Reinstall only when the package metadata changes.
$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(PIP_INSTALL) -e '.[postgres,redis]'
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP_INSTALL) -e '.[postgres,redis,test]'
	@touch $@

# Quiet unless a catalog has an error (the tests check that none misses a string).
compile-translations: $(VENV)/.installed
	$(BIN)/pybabel --quiet compile -d translations

# Extract, update and compile the catalogs. Extraction omits dates and line numbers so
# the template only changes when a string does.
translations: $(VENV)/.installed
	$(BIN)/pybabel extract -F translations/babel.cfg -k _l -k lazy_ngettext:1,2 -k _lp:1c,2 \
	    --no-location --omit-header --sort-output --no-wrap \
	    -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-wrap \
	    --ignore-obsolete --no-fuzzy-matching --ignore-pot-creation-date
	$(MAKE) compile-translations

migrate: $(VENV)/.installed
	$(FLASK) db upgrade

demo: migrate
	$(FLASK) portal demo
	$(FLASK) search reindex --if-missing

# Mail sent while `make run` serves, or by its demo data, links to where it serves.
run demo: export PORTAL_BASE_URL := $(RUN_BASE_URL)

# One process with threads: without PORTAL_REDIS_URL rate limits are counted in its
# memory, and portal/gunicorn_conf.py refuses more workers (see README, Deployment).
run: compile-translations demo
	@echo "Ventanilla is serving on http://$(HOST):$(PORT)  (Ctrl+C to stop)"
	$(BIN)/gunicorn -c python:portal.gunicorn_conf --bind $(HOST):$(PORT) \
	    --workers $(WORKERS) --threads 8 --access-logfile - wsgi:app

# bandit: high severity fails the run, and only high is shown. Ruff's S rules (its copy of
# bandit's checks) already fail at every severity, each exception marked on its line, so
# bandit's own list of low and medium findings would repeat them as noise. To see that
# list: .venv/bin/bandit -c pyproject.toml -r portal
lint: $(VENV)/.installed-test
	$(BIN)/ruff check portal tests benchmarks wsgi.py migrations/env.py
	$(BIN)/lint-imports --no-cache
	$(BIN)/bandit -c pyproject.toml -r portal --quiet --severity-level high

# PostgreSQL tests run whenever a server answers on 127.0.0.1:5432 (or at
# PORTAL_TEST_DATABASE_URL, which CI sets); browser tests whenever Chromium is installed.
LOCAL_PG := postgresql://postgres@127.0.0.1:5432/postgres
unit: $(VENV)/.installed-test compile-translations
	@pg="$${PORTAL_TEST_DATABASE_URL:-}"; \
	if [ -z "$$pg" ] && $(BIN)/python -c "import psycopg; psycopg.connect('$(LOCAL_PG)', connect_timeout=2).close()" 2>/dev/null; then \
	  pg="$(LOCAL_PG)"; fi; \
	PORTAL_TEST_DATABASE_URL="$$pg" $(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint unit

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
