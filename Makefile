# equinet-geo. Every target reads DATABASE_URL / REDIS_URL from the environment when set;
# otherwise it starts project-local PostGIS and Redis (scripts/devstack.sh).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
# A connection that takes longer than this to send a request's headers, or sits idle that
# long between requests, is closed.
HEADER_TIMEOUT_MS ?= 10000
N ?= 100000
MUTANTS ?=
DEMO_PROVIDERS ?= 3000
DEMO_ROUTE_ORDERS ?= 300
SCENARIO ?= normal

UV_VERSION := 0.13.8
UV := .devstack/tools/bin/uv
BIN := .venv/bin
# Source the service URLs (and a local secret key unless one is set) into the recipe's shell.
STACK := stack=$$(bash scripts/devstack.sh up) && set -a && eval "$$stack" \
	&& SECRET_KEY=$${SECRET_KEY:-$$(bash scripts/devstack.sh secret-key)} && set +a

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := .venv

.PHONY: help install services stop migrate seed roads serve worker serve-cluster run test test-fast upgrade lint bench bench-quick drills drill-restore backup restore roll-cluster load check-docs mutation

help:
	@echo "make run       venv, services, migrations, demo data, then serve the API"
	@echo "make test      venv, services (with a replica and PgBouncer), then the whole test suite, and again its pgbouncer-marked tests through PgBouncer"
	@echo "make test-fast the unit tests alone: no services (seconds)"
	@echo "make upgrade   refresh the lock within the declared ranges, then run the tests"
	@echo "make services  start local PostGIS, Redis and the mail server; print DATABASE_URL, REDIS_URL, SMTP_URL, MAIL_DIR"
	@echo "make stop      stop the local services started by 'make services'"
	@echo "make migrate   alembic upgrade head"
	@echo "make seed N=…  replace all providers with N seeded ones (default $(N))"
	@echo "make roads     load the road network: central Helsinki (sample), PBF=extract.osm.pbf, or SYNTHETIC=km"
	@echo "make serve     granian on HOST:PORT with WORKERS workers, and the job worker"
	@echo "make worker    the job worker alone (mail, exports; python -m app.jobs dead|retry for dead letters)"
	@echo "make serve-cluster INSTANCES=N  nginx on HOST:PORT in front of N granian instances (TLS=1: HTTPS)"
	@echo "make check-docs  run docs/api.md's curl examples against http://HOST:PORT"
	@echo "make bench     route optimizer, search strategies, map clusters and tiles, road matrices, booking contention, throughput against the floor, plots and summary (docs/benchmarks.md)"
	@echo "make bench-quick  the strategies, map views, free time and contention at CI size"
	@echo "make backup    a pgBackRest backup of the local cluster (BACKUP_TYPE=incr|diff|full) and what it took"
	@echo "make restore TARGET_TIME='…' RESTORE_PORT=…  the cluster as it was then, as a separate cluster; last line DATABASE_URL=…"
	@echo "make drill-restore  write, back up, write, restore to an instant, and check row by row (~1 min)"
	@echo "make roll-cluster  restart the instances of a running serve-cluster one by one, losing no request"
	@echo "make drills    failure drills through nginx, three instances, the replica and PgBouncer (~2.5 min)"
	@echo "make load      a load scenario against the API: SCENARIO=normal, peak, spike or abuse (docs/operations.md)"
	@echo "make mutation  mutation testing of db/ and geo/ (slow, not in CI; MUTANTS='db.search.*')"
	@echo "make lint      ruff, mypy, and no serializable transactions"

$(UV):
	$(PYTHON) -m venv .devstack/tools
	.devstack/tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

install: .venv/.installed

services: install
	@bash scripts/devstack.sh up

stop:
	@bash scripts/devstack.sh down

migrate: install
	@$(STACK) && $(BIN)/alembic upgrade head

seed: migrate
	@$(STACK) && $(BIN)/python -m db.seed $(N)

# The road network routes are planned on (docs/routes.md#roads): an OpenStreetMap extract,
# a generated region SYNTHETIC km across, or the sample of central Helsinki.
PBF ?=
SYNTHETIC ?=
roads: migrate
	@$(STACK) && $(BIN)/python -m db.roads $(if $(PBF),--pbf $(PBF)) \
		$(if $(SYNTHETIC),--synthetic $(SYNTHETIC))

serve: install
	@$(STACK) && export GEOCODER_PROCESSES=$${GEOCODER_PROCESSES:-$(WORKERS)} \
		&& export PROCESSES=$${PROCESSES:-$(WORKERS)} \
		&& export PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/.devstack/metrics \
		&& rm -rf .devstack/metrics && mkdir -p .devstack/metrics \
		&& { PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://$(HOST):$(PORT)} \
			$(BIN)/python -m app.jobs >>.devstack/worker.log 2>&1 & } && worker=$$! \
		&& trap 'kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT \
		&& echo "equinet-geo: the job worker runs beside it (log: .devstack/worker.log)" \
		&& echo "equinet-geo: serving on http://$(HOST):$(PORT) (API docs at /schema)" \
		&& $(BIN)/granian --interface asgi --factory --host $(HOST) --port $(PORT) \
			--workers $(WORKERS) --http1-header-read-timeout $(HEADER_TIMEOUT_MS) \
			--log-level warning app.main:create_app

# The job worker alone (make serve and make serve-cluster start one beside the API).
worker: install
	@$(STACK) && exec $(BIN)/python -m app.jobs

# nginx on HOST:PORT in front of INSTANCES granian instances of WORKERS_PER_INSTANCE workers;
# with TLS=1, HTTPS there (a self-signed certificate unless TLS_CERT and TLS_KEY are given)
# and a redirect to it from plain HTTP on HTTP_PORT.
INSTANCES ?= 2
WORKERS_PER_INSTANCE ?= 1
TLS ?= 0
HTTP_PORT ?= 8080
serve-cluster: install
	@export DEVSTACK_NGINX=1 && $(STACK) && INSTANCES=$(INSTANCES) WORKERS=$(WORKERS_PER_INSTANCE) \
		HOST=$(HOST) PORT=$(PORT) HEADER_TIMEOUT_MS=$(HEADER_TIMEOUT_MS) TLS=$(TLS) \
		HTTP_PORT=$(HTTP_PORT) exec bash scripts/serve_cluster.sh

# The demo data is small enough for the naive strategy: the map page times all three.
run: migrate
	@$(STACK) && $(BIN)/python -m db.seed $(DEMO_PROVIDERS) --if-empty --calendars \
		--route-orders $(DEMO_ROUTE_ORDERS) && $(BIN)/python -m db.roads --if-empty \
		&& $(BIN)/python -m app.demo
	@SEARCH_STRATEGIES=$${SEARCH_STRATEGIES:-gist,bbox,naive} $(MAKE) --no-print-directory serve

# The suite runs against the local stack with a streaming replica and PgBouncer in front of
# both (and nginx, for the cluster's tests, Chromium, for the map page's, and promtool, for
# the alerting rules'): first with
# the app connected to PostgreSQL itself, the replica's tests included; then the tests
# marked `pgbouncer` (search, profiles, bookings, accounts) again, through PgBouncer, with
# public reads on the replica. TEST_WORKERS xdist workers each copy the suite's template
# database; the `serial` tests, which pause and restart what the whole stack shares (the
# replica, PgBouncer, API instances), run after them, alone.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/pytest -n $(TEST_WORKERS)
test: install
	@export DEVSTACK_REPLICA=1 DEVSTACK_PGBOUNCER=1 DEVSTACK_NGINX=1 DEVSTACK_BROWSER=1 \
		DEVSTACK_PROMTOOL=1 && $(STACK) && $(PYTEST) -m "not serial" && $(BIN)/pytest -m serial \
		&& TEST_THROUGH_PGBOUNCER=1 $(PYTEST) -m pgbouncer

# The lock refreshed to the newest versions the declared ranges allow (pyproject.toml), then
# the whole suite: commit uv.lock when it passes. Moving past a range is a change of its own.
upgrade: $(UV)
	$(UV) lock --upgrade
	$(UV) sync --frozen --python $(PYTHON)
	touch .venv/.installed
	$(MAKE) --no-print-directory test

# The pure tier: geo/, settings and the rest that needs no database, Redis or server.
test-fast: install
	$(BIN)/pytest tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@# Overlapping bookings are refused by an exclusion constraint; no code may fall back
	@# on serializable transactions (the docs may discuss them). bench/ may: its booking
	@# contention benchmark races the product against a serializable-with-retry baseline.
	@if git grep -n -i 'serializable' -- . ':!*.md' ':!Makefile' ':!bench/'; then \
		echo "lint: serializable isolation is not used in this code base"; exit 1; fi

check-docs: install
	$(BIN)/python -m tests.support.doc_examples docs/api.md http://$(HOST):$(PORT)

# Each mutant's run copies the suite's template database (made once, tests/support/suite.py)
# and takes a Redis database of its own, so mutants run one per core.
# mutmut maps each function to the tests that reach it, but refreshes that map only for new
# tests: a changed test would keep its old reach, so the map is rebuilt on every run.
mutation: install
	rm -f mutants/mutmut-stats.json
	@$(STACK) && $(BIN)/mutmut run --max-children $$(nproc) $(MUTANTS)
	$(BIN)/python -m tests.support.mutation_report

load: migrate
	@$(STACK) && $(BIN)/python -m db.seed $(DEMO_PROVIDERS) --if-empty --calendars \
		--route-orders $(DEMO_ROUTE_ORDERS)
	@$(STACK) && $(BIN)/python -m bench.load_scenarios $(SCENARIO)

bench: migrate
	$(BIN)/python -m bench.route_optimizer
	$(BIN)/python -m bench.route_windows
	@$(STACK) && $(BIN)/python -m bench.strategies
	@$(STACK) && $(BIN)/python -m bench.map_views
	@$(STACK) && $(BIN)/python -m bench.free_time
	@$(STACK) && $(BIN)/python -m bench.road_matrix
	@$(STACK) && $(BIN)/python -m bench.contention
	@$(STACK) && $(BIN)/python -m bench.throughput
	$(BIN)/python -m bench.report

# A rolling restart of the instances of a running `make serve-cluster` (one at a time, out
# of nginx's upstream while it restarts: no request is lost).
roll-cluster:
	@kill -HUP "$$(cat .devstack/cluster/serve.pid)" \
		&& echo "serve-cluster: rolling restart asked for; its output says when it is done"

# nginx, three API instances, the replica and PgBouncer under a steady mixed load while one
# instance is killed, the replica stopped, its replay paused, PgBouncer restarted, and all
# instances restarted one by one (~2.5 min).
drills: migrate
	@export DEVSTACK_REPLICA=1 DEVSTACK_PGBOUNCER=1 DEVSTACK_NGINX=1 && $(STACK) \
		&& DATABASE_URL=$$DATABASE_DIRECT_URL $(BIN)/python -m db.seed $(DEMO_PROVIDERS) \
			--if-empty --calendars --route-orders $(DEMO_ROUTE_ORDERS) \
		&& $(BIN)/python -m bench.drills

# Backups and point-in-time restore of the local cluster (scripts/backup.sh, docs/operations.md).
BACKUP_TYPE ?= incr
TARGET_TIME ?=
RESTORE_PORT ?= 54331
backup:
	@bash scripts/devstack.sh up >/dev/null && bash scripts/backup.sh backup $(BACKUP_TYPE)

restore:
	@bash scripts/devstack.sh up >/dev/null \
		&& bash scripts/backup.sh restore "$(TARGET_TIME)" $(RESTORE_PORT)

drill-restore: migrate
	@$(STACK) && $(BIN)/python -m bench.restore_drill

# CI-sized: 10k providers, two radii, a short contention run; fails if the strategies'
# pages differ or a booking is doubled. Its results go to bench/results/quick/ (not kept).
bench-quick: migrate
	@$(STACK) && $(BIN)/python -m bench.strategies --quick
	@$(STACK) && $(BIN)/python -m bench.map_views --quick
	@$(STACK) && $(BIN)/python -m bench.free_time --quick
	@$(STACK) && $(BIN)/python -m bench.contention --quick
