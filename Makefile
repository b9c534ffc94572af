# The two commands of the README. Each sets up what it needs, idempotently:
# the system library open3d needs, a virtual environment in .venv, torch (CPU) and graspbench.

VENV  := .venv
STAMP := $(VENV)/.installed
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: benchmark test setup
benchmark: $(STAMP)
	$(VENV)/bin/graspbench benchmark --out results/benchmark

test: $(STAMP)
	$(VENV)/bin/python -m pytest

setup: $(STAMP)

$(STAMP): pyproject.toml
	@ldconfig -p | grep -q libusb-1.0.so.0 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq libusb-1.0-0; }
	[ -x $(VENV)/bin/python ] || python3 -m venv $(VENV)
	# torch first, pinned to the CPU build, so that nothing pulls a GPU build in.
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -e ".[test]"
	touch $(STAMP)
