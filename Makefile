# Clearhouse: `make run` starts everything with demo data; `make test` runs the full suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install run manage test test-rabbitmq lint format bench screenshots lock clean

help:
	@echo "make run    start web, worker, beat and sandboxes with demo data (Ctrl-C stops all)"
	@echo "make manage ARGS=\"...\"  a manage.py command in the virtualenv, with the environment make run gives its processes"
	@echo "make test   run the full test suite on PostgreSQL and Redis, with coverage, then its SQLite subset and test-rabbitmq"
	@echo "make test-rabbitmq  the tests marked celery (real workers, retries, countdowns) with RabbitMQ as the broker"
	@echo "make lint   ruff, mypy, the layering contracts (import-linter) and the migrations check"
	@echo "make bench  benchmark the API under gunicorn on PostgreSQL beside a bare Django floor (about an hour; BENCH_ARGS=\"--only insert\" for one scenario)"
	@echo "make screenshots  regenerate docs/screenshots (a finance day played in Chromium)"

$(STAMP): requirements/dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	@touch $(STAMP)

install: $(STAMP)

# What `make run` gives its processes and `make manage` its command: our address and the built-in
# gateway sandboxes at HOST:PORT (unless the environment names others); honcho then applies ENV_FILE.
ENV_FILE ?= .env
DEV_ENV = VENV_BIN=$(BIN) HOST=$(HOST) PORT=$(PORT) \
	PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://$(HOST):$(PORT)} \
	AUTHORIZENET_TEST_ENDPOINT=$${AUTHORIZENET_TEST_ENDPOINT:-http://$(HOST):$(PORT)/sandbox/authorizenet/xml/v1/request.api} \
	RAZORPAY_TEST_API_BASE=$${RAZORPAY_TEST_API_BASE:-http://$(HOST):$(PORT)/sandbox/razorpay} \
	STRIPE_TEST_API_BASE=$${STRIPE_TEST_API_BASE:-http://$(HOST):$(PORT)/sandbox/stripe}

# honcho with a longer wait before SIGKILL (config/dev_processes.py); -P: config/ not on sys.path.
run: install
	@mkdir -p var && rm -rf var/prometheus && mkdir -p var/prometheus
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --base-url http://$(HOST):$(PORT)
	PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/var/prometheus $(DEV_ENV) \
		$(BIN)/python -P config/dev_processes.py --procfile config/Procfile.dev --app-root . --env $(ENV_FILE) start

# The commands seed_demo prints and the docs show, e.g. make manage ARGS="sandbox_settle"
# (PORT=8123 make manage ... when make run was given PORT=8123).
manage: install
	@$(DEV_ENV) $(BIN)/honcho --app-root . --env $(ENV_FILE) run $(BIN)/python manage.py $(value ARGS)

# The PostgreSQL suite and the RabbitMQ run on TEST_WORKERS processes (pytest-xdist; each has its
# own test database, Redis databases and vhost: config/settings/test.py). Most of a test's time is
# waiting (gateway sandboxes over HTTP, workers, holds), so more processes than cores pay.
# The SQLite subset shares the quickstart's broker folder under var/ and runs in one process.
TEST_WORKERS ?= 3
test: install
	$(BIN)/pytest -n $(TEST_WORKERS) --cov --cov-report=term-missing:skip-covered --cov-fail-under=90 $(PYTEST_ARGS)
	$(BIN)/pytest -m sqlite --ds=config.settings.test_sqlite -q $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-rabbitmq

# The Celery tests again with RabbitMQ as the broker (quorum queues, confirms); the browser test,
# slow, runs on Redis only. The vhosts must exist (.ci/run creates clearhouse_test and _gw0 ... _gw5).
RABBITMQ_TEST_URL ?= amqp://guest:guest@127.0.0.1:5672/clearhouse_test
test-rabbitmq: install
	TEST_CELERY_BROKER_URL=$(RABBITMQ_TEST_URL) $(BIN)/pytest -n $(TEST_WORKERS) -m "celery and not browser" -q $(PYTEST_ARGS)

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
