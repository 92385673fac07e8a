# StyleCast: `make demo` runs the main job on the embedded default, `make test` runs the tests.
# Both set everything up first (idempotent: fast and quiet when already done).

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stylecast-installed
# The CPU build of torch; a GPU image installs its own CUDA build before the project.
TORCH_SPEC ?= torch==2.13.0
FMNIST_DEB_DIR := /usr/share/datasets/fashion-mnist
export STYLECAST_HOME ?= $(CURDIR)/stylecast-home
DEMO_DROP := $(STYLECAST_HOME)/drops/simulated-fashion-mnist
PYTEST_ARGS ?=
# Some pip configurations warn once per package about absent local indexes: noise, not news.
QUIET_PIP := 2>&1 | { grep -v '^WARNING: Location' || true; }

.PHONY: setup demo test lint clean system-packages benchmark-ingest benchmark-forecast benchmark-gan

setup: $(STAMP) system-packages

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH_SPEC)" $(QUIET_PIP)
	@$(BIN)/pip install -q -e ".[dev,s3]" $(QUIET_PIP)
	@touch $@

# Debian packages the demo and tests use, installed when missing (root + apt only; elsewhere
# tests name what is missing): the offline, checksummed Fashion-MNIST, and the headless
# Chromium the report tests open the weekly report in.
DEBIAN_PACKAGES := dataset-fashion-mnist:$(FMNIST_DEB_DIR) chromium:/usr/bin/chromium

system-packages:
	@missing=""; for entry in $(DEBIAN_PACKAGES); do \
		[ -e "$${entry#*:}" ] || missing="$$missing $${entry%%:*}"; done; \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian package(s):$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq $$missing >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null && apt-get install -y -qq $$missing >/dev/null; }; \
	fi

demo: setup
	@echo "== simulate: 104 weeks of simulated timelines over real Fashion-MNIST images"
	$(BIN)/stylecast simulate --catalog fashion-mnist --weeks 104 --start 2024-01-01 --out $(DEMO_DROP)
	@echo "== ingest: validate, normalise, partition by ISO week"
	$(BIN)/stylecast ingest $(DEMO_DROP)/manifest.csv
	@echo "== series: weekly share of every attribute value"
	$(BIN)/stylecast series
	@echo "== forecast: backtest, choose, forecast 12 weeks with intervals and trend calls"
	$(BIN)/stylecast forecast $(STYLECAST_HOME)/series/attribute_shares.parquet --horizon 12 \
		--season-length 52 --shares --out $(STYLECAST_HOME)/forecasts/demo.parquet \
		--trends $(STYLECAST_HOME)/forecasts/demo-trends.csv
	@echo "== what landed where"
	$(BIN)/stylecast info

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

benchmark-ingest: setup
	$(BIN)/python benchmarks/ingest.py

benchmark-forecast: setup
	$(BIN)/python benchmarks/forecast.py

benchmark-gan: setup
	$(BIN)/python benchmarks/gan.py

clean:
	rm -rf $(VENV) stylecast-home .pytest_cache
