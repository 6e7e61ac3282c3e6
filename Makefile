# Clearhouse: `make run` starts everything with demo data; `make test` runs the full suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install run test lint format bench screenshots lock clean

help:
	@echo "make run    start web, worker, beat and sandboxes with demo data (Ctrl-C stops all)"
	@echo "make test   run the full test suite on PostgreSQL and Redis, with coverage, then its SQLite subset"
	@echo "make lint   ruff, mypy, the layering contracts (import-linter) and the migrations check"
	@echo "make bench  benchmark the API under gunicorn on PostgreSQL"
	@echo "make screenshots  regenerate docs/screenshots (a finance day played in Chromium)"

$(STAMP): requirements/dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	@touch $(STAMP)

install: $(STAMP)

run: install
	@mkdir -p var && rm -rf var/prometheus && mkdir -p var/prometheus
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --base-url http://$(HOST):$(PORT)
	PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/var/prometheus VENV_BIN=$(BIN) HOST=$(HOST) PORT=$(PORT) \
		AUTHORIZENET_TEST_ENDPOINT=$${AUTHORIZENET_TEST_ENDPOINT:-http://$(HOST):$(PORT)/sandbox/authorizenet/xml/v1/request.api} \
		RAZORPAY_TEST_API_BASE=$${RAZORPAY_TEST_API_BASE:-http://$(HOST):$(PORT)/sandbox/razorpay} \
		$(BIN)/honcho --procfile config/Procfile.dev --app-root . start

test: install
	$(BIN)/pytest --cov --cov-report=term-missing:skip-covered --cov-fail-under=90 $(PYTEST_ARGS)
	$(BIN)/pytest -m sqlite --ds=config.settings.test_sqlite -q $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	DJANGO_SETTINGS_MODULE=config.settings.test DATABASE_URL=sqlite://:memory: $(BIN)/python manage.py makemigrations --check --dry-run

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python tests/bench/run.py $(BENCH_ARGS)

# The whole-day admin test (tests/browser/test_finance_day.py) saves its pages as PNGs on the way.
screenshots: install
	CLEARHOUSE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest tests/browser/test_finance_day.py -q --no-cov

lock: install
	cd requirements && for f in base prod dev; do \
		../$(BIN)/pip-compile --quiet --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links --output-file $$f.txt $$f.in; \
	done

clean:
	rm -rf var/celery var/prometheus var/staticfiles .coverage
