# The two commands the README opens with: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.depthlab-installed
OUT ?= runs/reproduce

.PHONY: demo quick test lint format bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/depthlab reproduce --device cpu --out $(OUT)

quick: $(STAMP)
	$(VENV)/bin/depthlab reproduce --quick --device cpu --out runs/quick

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -q

lint: $(STAMP)
	$(VENV)/bin/ruff check
	$(VENV)/bin/ruff format --check

format: $(STAMP)
	$(VENV)/bin/ruff format

clean:
	rm -rf $(VENV) runs .pytest_cache
