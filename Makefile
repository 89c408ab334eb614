# external-identity-operator — every target is a plain command you can also run by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
IMAGE ?= external-identity-operator:dev

.PHONY: help install demo test lint typecheck unit run bench clean chart-crds helm lint-chart lock image e2e

help:
	@echo "make demo   set everything up, then run the local demo (no cluster or cloud needed)"
	@echo "make test   lint, type-check and run the whole test suite"
	@echo "make run    run the operator against the current kubeconfig"
	@echo "make bench  print throughput/memory figures for many bindings"
	@echo "make image  build the container image (needs Docker)"
	@echo "make e2e    kind end-to-end suite (needs Docker, kind, helm, kubectl)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	bash tools/install-helm.sh
	bash tools/install-promtool.sh
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m support.demo

lint: $(STAMP)
	$(BIN)/ruff check operator tests support bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -n 6

test: lint typecheck unit

run: $(STAMP)
	$(BIN)/external-identity --log-level INFO run --liveness http://127.0.0.1:8080/healthz

bench: $(STAMP)
	$(BIN)/python -m bench

chart-crds:
	bash tools/sync-chart-crds.sh

helm:
	bash tools/install-helm.sh

lint-chart: $(STAMP)
	bash tools/lint-chart.sh
	$(BIN)/pytest tests/chart -q

lock: $(STAMP)
	$(BIN)/python tools/lock-runtime-deps.py

image:
	docker build -t $(IMAGE) .

e2e:
	bash e2e/run.sh

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
