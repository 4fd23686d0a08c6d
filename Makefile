# Two commands on a fresh machine: `make demo` runs the main job on the built-in
# synthetic CT dataset, `make test` runs the test suite. Both create the virtual
# environment and install the package first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= demo
PYTEST_WORKERS ?= 2

.PHONY: install demo test bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) launch/make_dataset.py --out $(DEMO_DIR)/data --n 120 --seed 0 --preset medium
	$(PY) launch/inspect_data.py --root $(DEMO_DIR)/data --json $(DEMO_DIR)/load_report.json

test: install
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile tests

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
