# leadmgr: `make run` serves the demo on http://127.0.0.1:8000; `make test` runs every check.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV := .venv
PY := $(VENV)/bin/python
PG_URL ?= postgres://postgres@127.0.0.1:5432/leadmgr
HOST ?= 127.0.0.1:8000

.PHONY: help install install-dev run serve migrate test lint format test-postgres browsers bench clean

help:
	@echo "make run            install, migrate, load demo data on first run, serve on http://$(HOST)"
	@echo "make serve          production set-up (gunicorn, whitenoise, runner) on http://$(HOST); see README"
	@echo "make test           install test tools, lint, check migrations, run the whole suite (SQLite)"
	@echo "make test-postgres  the suite against PostgreSQL ($(PG_URL))"
	@echo "make bench          the benchmarks in bench/ (see bench/README.md)"
	@echo "make format         ruff format + ruff check --fix"

$(PY):
	@interpreter=$$(bin/find-python) || exit 1; \
	  echo "Creating $(VENV) with $$interpreter"; \
	  "$$interpreter" -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip

# Stamp files: reinstall only when a requirements file changes.
$(VENV)/.installed: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

# RUNNER=0 serves without the campaign runner (by default a worker runs beside the server, with the
# simulated provider, so the running demo campaign visibly moves its leads).
RUNNER ?= 1
# The demo runner's simulated calls last as long as real ones (leads/demo.py: DEMO_SPEEDUP), so the
# running demo campaign is still moving half an hour later (an exported LEADMGR_SIMULATED_SPEEDUP wins).
DEMO_SPEEDUP ?= $(or $(LEADMGR_SIMULATED_SPEEDUP),1)
# The background-job worker (big CSV previews and imports, the export's column scan) and the webhook
# delivery worker always run beside the server, and stop with it.
run: migrate
	$(PY) manage.py seed_demo --if-empty
	@echo "Serving leadmgr on http://$(HOST)/  (sign in as admin, operator or staff; password leadmgr-demo)"
	@echo "Job worker started beside the server (python manage.py db_worker)"
	@echo "Webhook delivery worker started beside the server (python manage.py deliver_webhooks)"
	@$(PY) manage.py db_worker --no-reload & jobs=$$!; \
	$(PY) manage.py deliver_webhooks & hooks=$$!; \
	if [ "$(RUNNER)" = 1 ]; then \
	  echo "Campaign runner started beside the server (RUNNER=0 to leave it out)"; \
	  LEADMGR_SIMULATED_SPEEDUP=$(DEMO_SPEEDUP) $(PY) manage.py run_campaigns & runner=$$!; trap 'kill $$runner $$jobs $$hooks 2>/dev/null' EXIT INT TERM; \
	  $(PY) manage.py runserver $(HOST); \
	else trap 'kill $$jobs $$hooks 2>/dev/null' EXIT INT TERM; $(PY) manage.py runserver $(HOST); fi

# The production set-up (bin/serve): DEBUG=0, checks, migrate, collectstatic, gunicorn + the runner.
# DATABASE_URL=postgres://... make serve for PostgreSQL; on a loopback HOST a local key is made once.
serve: install
	HOST=$(HOST) bin/serve

# Chromium for the browser tests comes from Debian's packages (never a downloaded browser).
browsers:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "The browser tests need Chromium: install it (e.g. 'sudo apt-get install chromium')." >&2; exit 1; fi; }

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

# pytest exits 5 when it collects no tests: a run that tests nothing is a broken run, not a green one.
PYTEST = $(VENV)/bin/pytest $(PYTEST_ARGS) || { rc=$$?; \
	  [ $$rc -eq 5 ] && echo "pytest collected no tests (exit 5): check pytest.ini testpaths." >&2; exit $$rc; }

# bin/with-postgres: the tests that need a PostgreSQL server of their own get 127.0.0.1:5432, else a
# throwaway cluster when initdb/pg_ctl are installed, else they skip naming make test-postgres.
test: install-dev browsers lint
	$(PY) manage.py check
	bin/with-postgres $(PYTEST)

test-postgres: install-dev browsers
	export DATABASE_URL=$(PG_URL); $(PYTEST)

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Each script generates (once, into bench/data/) or reuses its data and prints figures with their
# same-run baselines; see bench/README.md. The runner's needs PostgreSQL for its 4-worker figure.
BENCHES := admin_changelist ui_pages csv_import csv_export runner_claims api_bulk api_list
bench: install-dev
	@for b in $(BENCHES); do echo "== bench/$$b.py"; DEBUG=0 $(PY) bench/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles
