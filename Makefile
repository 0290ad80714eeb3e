# Two entry points (see README): `make run` runs the main job, `make test` the test suite.
# Both create the virtual environment in .venv on first use.

VENV ?= .venv
PY := $(VENV)/bin/python
# The torch/torchvision pair that installs on x86_64 here; override on other machines.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet $(TORCH_SPEC)
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	mkdir -p results/eta
	for pair in fcn:mnist conv:mnist vgg11:cifar10 vgg11:cifar100 resnet20:cifar10 resnet20:cifar100 \
	            vgg11:tiny-imagenet resnet18:tiny-imagenet; do \
	  arch=$${pair%%:*}; ds=$${pair#*:}; \
	  for conv in paper exact; do \
	    $(PY) -m pipeline eta --arch $$arch --dataset $$ds --convention $$conv --format csv \
	      > results/eta/$$arch-$$ds-$$conv.csv || exit 1; \
	  done; \
	  echo "results/eta/$$arch-$$ds-{paper,exact}.csv"; \
	done

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(PY) -m benchmarks.bench_topology dense
	$(PY) -m benchmarks.bench_topology conv
	$(PY) -m benchmarks.bench_training
