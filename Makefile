# Two commands on a fresh machine: `make demo` trains GAN-CBAM on the built-in
# synthetic CT dataset (minutes on 2 CPU cores), `make test` runs the test suite.
# Both create the virtual environment and install the package first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= demo
PYTEST_WORKERS ?= 2
BENCH_DIR ?= bench-results

.PHONY: install demo test bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Train and evaluate, export the detector, then score slices it has never seen (a new synthetic
# set, seed 1) as a user would score new scans.
demo: install
	$(PY) launch/inspect_data.py --config configs/default.py --json $(DEMO_DIR)/load_report.json
	$(PY) launch/train.py --config configs/default.py --workdir $(DEMO_DIR)/run
	$(PY) launch/export.py --workdir $(DEMO_DIR)/run --out $(DEMO_DIR)/export
	$(PY) launch/make_dataset.py --out $(DEMO_DIR)/new_scans --n 24 --seed 1
	$(PY) launch/detect.py --model $(DEMO_DIR)/export --input $(DEMO_DIR)/new_scans/dicom_dir \
		--out $(DEMO_DIR)/detect/scores.csv --heatmaps $(DEMO_DIR)/detect/heatmaps

test: install
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder tests

# Every training and inference benchmark on this machine (about 45 minutes on 2 CPU cores), gathered
# into benchmarks/results/<machine>.json and .md. The bench extra adds PyTorch for torch_peer.py.
bench: install
	$(PY) -m pip install --quiet -e '.[bench]'
	mkdir -p $(BENCH_DIR)
	$(PY) benchmarks/train_step.py --json $(BENCH_DIR)/train_step.json
	$(PY) benchmarks/torch_peer.py --json $(BENCH_DIR)/torch_peer.json
	$(PY) benchmarks/scaling.py --json $(BENCH_DIR)/scaling.json
	$(PY) benchmarks/compile_cache.py --json $(BENCH_DIR)/compile_cache.json
	$(PY) benchmarks/inference.py --json $(BENCH_DIR)/inference.json
	$(PY) benchmarks/collect.py --tag $$($(PY) benchmarks/devices.py) train_step=$(BENCH_DIR)/train_step.json \
		torch_peer=$(BENCH_DIR)/torch_peer.json scaling=$(BENCH_DIR)/scaling.json \
		compile_cache=$(BENCH_DIR)/compile_cache.json inference=$(BENCH_DIR)/inference.json

clean:
	rm -rf $(VENV) $(DEMO_DIR) $(BENCH_DIR) .pytest_cache
