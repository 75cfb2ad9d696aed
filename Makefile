# Two set-up commands: `make demo` (the main job) and `make test`. Both create .venv and install everything.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA_DIR ?= $(if $(RESGENOME_DATA_DIR),$(RESGENOME_DATA_DIR),../shared/data)
DEMO_OUT ?= demo-report

.PHONY: install test test-fast demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# CPU PyTorch first, pinned: an unpinned torch would pull a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,workflow]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(VENV)/bin/lint-imports
	RESGENOME_DATA_DIR=$(DATA_DIR) $(PY) -m pytest -q

demo: $(STAMP)
	RESGENOME_DATA_DIR=$(DATA_DIR) $(VENV)/bin/resgenome reproduce --out $(DEMO_OUT)
	@echo "open $(DEMO_OUT)/report.html in a browser"

bench: $(STAMP)
	RESGENOME_DATA_DIR=$(DATA_DIR) $(VENV)/bin/resgenome bench --out bench.json

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
