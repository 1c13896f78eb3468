# AME: two commands on a fresh machine — `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast bench lint clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m ame_local run

test: install
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -n 2 --dist loadfile -m "not e2e and not chaos" $(PYTEST_ARGS)

bench: install
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: install
	$(VENV)/bin/statelint --ignore=URI statemachine.asl.json

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis
