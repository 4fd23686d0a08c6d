# Two commands on a fresh machine: `make demo` trains GAN-CBAM on the built-in
# synthetic CT dataset (minutes on 2 CPU cores), `make test` runs the test suite.
# Both create the virtual environment and install the package first.
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
	$(PY) launch/inspect_data.py --config configs/default.py --json $(DEMO_DIR)/load_report.json
	$(PY) launch/train.py --config configs/default.py --workdir $(DEMO_DIR)/run

test: install
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile tests

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
