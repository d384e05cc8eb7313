# The two commands a fresh machine needs: `make run` and `make test`. Both install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run test test-servers lint format bench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first: an unpinned torch pulls a multi-GB CUDA build. uv installs
	# the rest (the same versions pip picks, in seconds instead of a minute) and keeps that torch.
	# uv compiles the bytecode pip would: without it a process where PYTHONDONTWRITEBYTECODE is
	# set compiles every module it imports from source, about 5 s for each one that starts.
	$(PY) -m pip install --quiet torch==2.13.0 uv
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) -m responder demo
	$(PY) -m responder serve

test-servers:
	bash scripts/install-test-servers.sh

# Two test processes (pytest-xdist): the suite waits on servers, browsers and subprocesses as much
# as it computes, so two share the two cores with a quarter of the wall time saved.
test: install test-servers
	$(PY) -m compileall -q responder
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist worksteal

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
