# Two commands: `make run` (set up and serve the demo) and `make test` (set up and pass the suite).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
FLASK := $(BIN)/flask --app wsgi
TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
STATIC := hub/web/static/build
GOVUK := node_modules/govuk-frontend/dist/govuk

.PHONY: help run test lint format test-sqlite test-postgres test-e2e bench assets migrate seed demo-code services clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(STATIC)/.built: node_modules/.installed hub/web/assets/hub.scss
	@mkdir -p $(STATIC)/govuk $(STATIC)/swagger
	npx --no-install sass --no-source-map --quiet-deps --load-path=node_modules --style=compressed hub/web/assets/hub.scss $(STATIC)/hub.css
	cp $(GOVUK)/govuk-frontend.min.js $(STATIC)/govuk-frontend.min.js
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css $(STATIC)/swagger/
	@touch $@

assets: $(STATIC)/.built ## Build GOV.UK Frontend styles and scripts into the static folder

migrate: $(BIN)/.installed ## Apply database migrations
	$(FLASK) db upgrade

seed: migrate ## Seed the demo region if the hub is empty
	$(FLASK) hub seed-demo --if-empty

# `make run` serves on PORT; every step of it (seeding, which keeps the address in
# instance/demo-credentials.txt, and the first start, which names the audit log's origin after
# it) uses that address unless HUB_BASE_URL says otherwise.
run: export HUB_BASE_URL ?= http://127.0.0.1:$(PORT)
run: $(BIN)/.installed assets migrate ## Set up everything and serve the demo on 127.0.0.1:$(PORT)
	@$(FLASK) hub seed-demo --if-empty >/dev/null
	@echo
	@$(FLASK) hub demo-credentials
	@echo
	@echo "Serving the hub at $$HUB_BASE_URL/  (Ctrl-C to stop)"
	@case "$${HUB_MAIL_BACKEND:-dev}" in dev) echo "Mail the demo sends is kept, not sent: read it at $$HUB_BASE_URL/dev/mail/";; console) echo "Mail the demo sends is printed below, in the server's output";; *) echo "Mail is sent through HUB_MAIL_BACKEND=$$HUB_MAIL_BACKEND";; esac
	$(BIN)/gunicorn --workers 2 --threads 4 --bind 127.0.0.1:$(PORT) --access-logfile - wsgi:app

demo-code: $(BIN)/.installed ## Print the current TOTP code of a demo account: make demo-code EMAIL=...
	@$(FLASK) hub demo-code "$(EMAIL)"

services: ## Start PostgreSQL and Redis if they are installed but not running
	@scripts/ensure-services

lint: $(BIN)/.installed ## ruff lint and format check; the import contracts (layers, no loops)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(BIN)/.installed ## Apply ruff's formatting and fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test-sqlite: $(BIN)/.installed assets ## The suite on SQLite
	$(BIN)/pytest -m "not e2e" -n 2 --dist loadfile -q

test-postgres: $(BIN)/.installed assets services ## The suite on PostgreSQL
	HUB_TEST_DATABASE=$(TEST_POSTGRES_URL) $(BIN)/pytest -m "not e2e" -n 2 --dist loadfile -q

test-e2e: $(BIN)/.installed assets ## Browser journeys in headless Chromium
	@scripts/ensure-chromium
	$(BIN)/pytest -m e2e -q tests/e2e

test: lint test-sqlite test-postgres test-e2e ## Set up everything; lint, then the suite on SQLite and PostgreSQL, then browser tests

bench: $(BIN)/.installed services ## Benchmarks; results in bench/RESULTS.md
	@scripts/ensure-wrk
	$(BIN)/python -m bench

clean: ## Remove the virtualenv, node_modules and built assets (keeps instance/)
	rm -rf $(VENV) node_modules $(STATIC)
