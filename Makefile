# The two commands of the README. Each sets up what it needs, idempotently:
# the system library open3d needs, a virtual environment in .venv, torch (CPU) and graspbench.

VENV  := .venv
STAMP := $(VENV)/.installed
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: benchmark test setup datasets agents
benchmark: $(STAMP)
	$(VENV)/bin/graspbench benchmark --out results/benchmark

test: $(STAMP)
	$(VENV)/bin/python -m pytest

setup: $(STAMP)

# The datasets the planners train on (docs/datasets.md): train objects for training, test objects
# for validation. Each command resumes where an interrupted one stopped. WORKERS=1 leaves a core free.
DATA    := data
WORKERS ?= 2
GENERATE = $(VENV)/bin/graspbench generate --workers $(WORKERS) --seed 0
datasets: $(STAMP)
	$(GENERATE) --env GraspBench/Single-v0  --split train --scenes 300 --out $(DATA)/single-train --candidates-per-object 24
	$(GENERATE) --env GraspBench/Pile-v0    --split train --scenes 300 --out $(DATA)/pile-train
	$(GENERATE) --env GraspBench/Stacked-v0 --split train --scenes 300 --out $(DATA)/stacked-train
	$(GENERATE) --env GraspBench/Packed-v0  --split train --scenes 200 --out $(DATA)/packed-train
	$(GENERATE) --env GraspBench/Single-v0  --split test  --scenes 100 --out $(DATA)/single-test --candidates-per-object 24
	$(GENERATE) --env GraspBench/Pile-v0    --split test  --scenes 60  --out $(DATA)/pile-test
	$(GENERATE) --env GraspBench/Stacked-v0 --split test  --scenes 60  --out $(DATA)/stacked-test
	$(GENERATE) --env GraspBench/Packed-v0  --split test  --scenes 60  --out $(DATA)/packed-test

$(STAMP): pyproject.toml
	@ldconfig -p | grep -q libusb-1.0.so.0 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq libusb-1.0-0; }
	[ -x $(VENV)/bin/python ] || python3 -m venv $(VENV)
	# torch first, pinned to the CPU build, so that nothing pulls a GPU build in.
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -e ".[test]"
	touch $(STAMP)

# The weights of the shipped network agents, trained on the datasets above (agents/README.md).
agents: datasets
	$(VENV)/bin/graspbench train-agents
