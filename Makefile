# Two entry points (see README): `make run` runs the main job, `make test` the test suite.
# Both create the virtual environment in .venv on first use.

VENV ?= .venv
PY := $(VENV)/bin/python
# The torch/torchvision pair that installs on x86_64 here; override on other machines.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed
CORES ?= 2
# Jobs run `python -m pipeline...`: the venv's interpreter must come first on PATH.
SNAKEMAKE := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/snakemake

.PHONY: setup run test lint bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet $(TORCH_SPEC)
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The main job: the default grid (config/config.yaml) on the shipped data, then the HTML report.
run: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES)
	$(SNAKEMAKE) --report results/report.html
	@echo "tables: results/tables/  figures: results/figures/  report: results/report.html"

test: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(PY) -m benchmarks.bench_topology dense
	$(PY) -m benchmarks.bench_topology conv
	$(PY) -m benchmarks.bench_training
	$(PY) -m benchmarks.bench_epochs
	$(PY) -m benchmarks.bench_analyze --scipy
	$(PY) -m benchmarks.bench_network
	$(PY) -m benchmarks.bench_checkpoint
