# StyleCast: `make demo` runs the main job on the embedded default, `make test` runs the tests.
# Both set everything up first (idempotent: fast and quiet when already done).

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stylecast-installed
# torch from pip's configured index: on a normal machine that is PyPI, whose Linux wheel is
# the CUDA build (several GB with its nvidia-* libraries). For the CPU build (about 200 MB):
#   make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
FMNIST_DEB_DIR := /usr/share/datasets/fashion-mnist
export STYLECAST_HOME ?= $(CURDIR)/stylecast-home
DEMO_DROP := $(STYLECAST_HOME)/drops/simulated-fashion-mnist
PYTEST_ARGS ?=
# Some pip configurations warn once per package about absent local indexes: noise, not news.
QUIET_PIP := 2>&1 | { grep -v '^WARNING: Location' || true; }

.PHONY: setup demo test test-fast lint docs clean system-packages benchmark-ingest benchmark-drop-poll benchmark-forecast benchmark-trend-calls benchmark-gan benchmark-gan-catalog benchmark-gan-controls benchmark-gan-inversion-tuning benchmark-embed benchmark-weekly-scale benchmark-weekly-backfill benchmark-erasure

setup: $(STAMP) system-packages

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH_SPEC)" \
		$(if $(TORCH_INDEX),--index-url "$(TORCH_INDEX)") $(QUIET_PIP)
	@$(BIN)/pip install -q -e ".[dev,s3]" $(QUIET_PIP)
	@touch $@

# Debian packages the demo and tests use, installed when missing (root + apt only; elsewhere
# tests name what is missing): the offline, checksummed Fashion-MNIST, and the headless
# Chromium the report tests open the weekly report in, and PostgreSQL for the deployment test.
DEBIAN_PACKAGES := dataset-fashion-mnist:$(FMNIST_DEB_DIR) chromium:/usr/bin/chromium \
	postgresql:/usr/lib/postgresql redis-server:/usr/bin/redis-server

system-packages:
	@missing=""; for entry in $(DEBIAN_PACKAGES); do \
		[ -e "$${entry#*:}" ] || missing="$$missing $${entry%%:*}"; done; \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian package(s):$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq $$missing >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null && apt-get install -y -qq $$missing >/dev/null; }; \
	fi

# The demo's simulated stream: 110 weeks from 2024-01-01, so its last week is 2026-W06.
DEMO_WEEKS := 110
DEMO_WEEK := 2026-W06
DEMO_GAN_MINUTES := 3
DEMO_GAN_CONF := {"dataset": "items", "preset": "small", "max_minutes": $(DEMO_GAN_MINUTES)}
AIRFLOW_DEMO_HOME := $(STYLECAST_HOME)/airflow
# `dags test` cannot finish a DAG with a deadline alert: the demo turns the weekly one off.
AIRFLOW := AIRFLOW_HOME=$(AIRFLOW_DEMO_HOME) AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=false MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false \
	STYLECAST_WEEKLY_DEADLINE_HOURS=0 $(BIN)/airflow
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false

demo: setup
	@echo "== simulate: $(DEMO_WEEKS) weeks of simulated timelines over real Fashion-MNIST images"
	$(BIN)/stylecast simulate --catalog fashion-mnist --weeks $(DEMO_WEEKS) --start 2024-01-01 \
		--items-per-week 120 --out $(DEMO_DROP)
	@echo "== ingest: validate, normalise, partition by ISO week"
	$(BIN)/stylecast ingest $(DEMO_DROP)/manifest.csv
	@echo "== encoder: the items encoder that embeds items for the styles (quick preset, CPU)"
	@# MLflow's warnings go to a log, shown whole if the step fails.
	$(BIN)/stylecast encoder train --dataset items --preset quick 2> $(STYLECAST_HOME)/encoder.log \
		|| { cat $(STYLECAST_HOME)/encoder.log; exit 1; }
	@echo "== Airflow: isolated AIRFLOW_HOME $(AIRFLOW_DEMO_HOME) (SQLite metadata database)"
	@mkdir -p $(AIRFLOW_DEMO_HOME)
	@$(AIRFLOW) db migrate > $(AIRFLOW_DEMO_HOME)/setup.log 2>&1
	@$(AIRFLOW) pools set gpu 1 "GPU training slots" >> $(AIRFLOW_DEMO_HOME)/setup.log 2>&1
	@$(AIRFLOW) dags reserialize >> $(AIRFLOW_DEMO_HOME)/setup.log 2>&1
	@echo "== GAN through Airflow: stylecast_gan_training on the ingested items (category + colour), $(DEMO_GAN_MINUTES) CPU minutes"
	@$(AIRFLOW) dags test stylecast_gan_training -c '$(DEMO_GAN_CONF)' \
		> $(AIRFLOW_DEMO_HOME)/gan-training.log 2>&1 && \
		grep -q "state=success" $(AIRFLOW_DEMO_HOME)/gan-training.log || \
		{ tail -40 $(AIRFLOW_DEMO_HOME)/gan-training.log; echo "GAN training DAG failed; full log: $(AIRFLOW_DEMO_HOME)/gan-training.log"; exit 1; }
	@echo "== weekly report for $(DEMO_WEEK) through Airflow: embed, styles, series, forecast, concepts, report"
	@$(AIRFLOW) dags test stylecast_weekly_report -c '{"week": "$(DEMO_WEEK)"}' \
		> $(AIRFLOW_DEMO_HOME)/weekly-report.log 2>&1 && \
		grep -q "state=success" $(AIRFLOW_DEMO_HOME)/weekly-report.log || \
		{ tail -40 $(AIRFLOW_DEMO_HOME)/weekly-report.log; echo "weekly report DAG failed; full log: $(AIRFLOW_DEMO_HOME)/weekly-report.log"; exit 1; }
	@$(BIN)/stylecast report --week $(DEMO_WEEK) --format md --no-track
	@echo
	@echo "Report:  $(STYLECAST_HOME)/reports/$(DEMO_WEEK)/index.html  (open it in a browser; no server needed)"
	@echo "Runs:    $(BIN)/mlflow ui --backend-store-uri sqlite:///$(STYLECAST_HOME)/mlflow.db  (then http://127.0.0.1:5000)"
	@echo "Compare: $(BIN)/stylecast runs compare --experiment stylecast-forecast --last 5"
	@echo "Airflow log of the run: $(AIRFLOW_DEMO_HOME)/weekly-report.log"

test: lint docs
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Everything but the integration tests (Airflow, MLflow servers, databases, training runs
# of more than seconds): a few minutes, for the edit-test loop. CI runs `make test`.
test-fast: lint
	$(BIN)/python -m pytest -m "not integration" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# The documentation site (mkdocs-material), strict: a broken link or anchor fails it.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

benchmark-ingest: setup
	$(BIN)/python benchmarks/ingest.py

benchmark-drop-poll: setup
	$(BIN)/python benchmarks/drop_poll.py --out benchmarks/results/drop_poll.md

benchmark-forecast: setup
	$(BIN)/python benchmarks/forecast.py

benchmark-trend-calls: setup
	$(BIN)/python benchmarks/trend_calls.py

benchmark-gan: setup
	$(BIN)/python benchmarks/gan_fmnist.py --ablation

benchmark-gan-catalog: setup
	$(BIN)/python benchmarks/gan_catalog.py

benchmark-gan-controls: setup
	$(BIN)/python benchmarks/gan_controls.py

benchmark-gan-inversion-tuning: setup
	$(BIN)/python benchmarks/gan_inversion_tuning.py $(if $(HOME_DIR),--home $(HOME_DIR))

benchmark-embed: setup
	$(BIN)/python benchmarks/embed.py

clean:
	rm -rf $(VENV) stylecast-home .pytest_cache site

# About 50 minutes on 2 cores to build the stores (1M items, first embedding included), then
# about 25 to measure: see benchmarks/weekly_scale.py.
benchmark-weekly-scale: setup
	$(BIN)/python benchmarks/weekly_scale.py build
	$(BIN)/python benchmarks/weekly_scale.py measure --baseline b348963

benchmark-erasure: setup
	$(BIN)/python benchmarks/erasure.py build
	$(BIN)/python benchmarks/erasure.py measure

# A year (52 weeks) of the weekly report through `airflow backfill create` on the 300k store
# that benchmark-weekly-scale built (LocalExecutor on PostgreSQL): see
# benchmarks/weekly_backfill.py.
benchmark-weekly-backfill: setup
	$(BIN)/python benchmarks/weekly_backfill.py
