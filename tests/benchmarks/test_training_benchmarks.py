"""The training benchmarks: steps built as training builds them, XLA's FLOP counts, the peak, the reports."""

import json
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

import collect
import devices
from gancbam_jax.train import parallel
from jax_steps import STEP_NAMES, time_training_step, training_steps, xla_flops

from conftest import BENCHMARKS

TIMEOUT_S = 300


def _run(script: str, *arguments: str) -> dict:
  """Runs a benchmark program with --json and returns what it wrote."""
  out = pathlib.Path(arguments[arguments.index("--json") + 1])
  result = subprocess.run([sys.executable, str(BENCHMARKS / script), *arguments], capture_output=True, text=True,
                          timeout=TIMEOUT_S)
  assert result.returncode == 0, result.stderr[-2000:]
  return json.loads(out.read_text())


def test_xla_flops_counts_a_matmul_as_two_flops_per_multiply_add():
  m, k, n = 32, 64, 16
  compiled = jax.jit(jnp.matmul).lower(jnp.ones((m, k)), jnp.ones((k, n))).compile()
  assert xla_flops(compiled) == pytest.approx(2 * m * k * n, rel=0.05)


@pytest.mark.parametrize("name", STEP_NAMES)
def test_each_training_step_advances_its_state_over_a_sharded_batch(name):
  mesh = parallel.data_mesh()  # the 4 simulated devices of the test process
  (step,) = training_steps("cbam", 64, 8, "float32", mesh, (name,))
  timing = time_training_step(step, min_seconds=0.0, repeats=1)
  assert timing.seconds_per_step > 0 and timing.compile_s > 0 and timing.steps_timed >= 1
  assert timing.flops_per_step > 1e8  # convolutions of 8 images at 64x64, forward and backward


def test_unknown_step_names_are_refused():
  with pytest.raises(ValueError, match="unknown training steps"):
    training_steps("cbam", 64, 8, "float32", parallel.data_mesh(1), ("autoencoder", "decoder"))


def test_cpu_peak_is_cores_times_clock_times_vector_flops(monkeypatch):
  monkeypatch.setattr(devices, "_cpuinfo", lambda: "cpu MHz\t\t: 2000.000\nflags\t\t: fpu avx2 fma avx512f\n")
  monkeypatch.setattr(devices.os, "sched_getaffinity", lambda _: {0, 1})
  peak, source = devices.cpu_peak_flops()
  assert peak == pytest.approx(2 * 2.0e9 * 64)
  assert "AVX-512" in source and "2 cores" in source
  monkeypatch.setattr(devices, "_cpuinfo", lambda: "cpu MHz\t\t: 2000.000\nflags\t\t: fpu avx2 fma\n")
  assert devices.cpu_peak_flops()[0] == pytest.approx(2 * 2.0e9 * 32)


def test_a_cpu_without_a_stated_clock_has_no_peak(monkeypatch):
  monkeypatch.setattr(devices, "_cpuinfo", lambda: "")
  assert devices.cpu_peak_flops()[0] is None


@pytest.fixture(scope="module")
def train_step_report(tmp_path_factory):
  out = tmp_path_factory.mktemp("train_step") / "train_step.json"
  return _run("train_step.py", "--sizes", "64", "--batches", "8", "--dtypes", "float32", "--steps", "classifier",
              "--min-seconds", "0", "--repeats", "1", "--json", str(out))


def test_train_step_reports_throughput_flops_and_share_of_peak(train_step_report):
  (row,) = train_step_report["rows"]
  assert (row["step"], row["image_size"], row["batch_size"], row["dtype"]) == ("classifier", 64, 8, "float32")
  assert row["images_per_s"] == pytest.approx(8 / (row["ms_per_step"] / 1e3))
  assert row["achieved_flop_per_s"] == pytest.approx(row["flops_per_step"] / (row["ms_per_step"] / 1e3))
  peak = train_step_report["peak"]["float32"]
  assert peak["source"]
  if peak["flop_per_s"]:
    assert row["share_of_peak"] == pytest.approx(row["achieved_flop_per_s"] / peak["flop_per_s"])
  assert train_step_report["device"] and train_step_report["date"]


def test_scaling_reports_efficiency_against_one_device(tmp_path):
  report = _run("scaling.py", "--per-device-batch", "4", "--devices", "1", "2", "--cpu-devices", "2", "--steps",
                "classifier", "--min-seconds", "0", "--repeats", "1", "--json", str(tmp_path / "scaling.json"))
  one, two = report["rows"]
  assert (one["devices"], one["global_batch"], two["devices"], two["global_batch"]) == (1, 4, 2, 8)
  assert one["scaling_efficiency"] == pytest.approx(1.0)
  assert two["scaling_efficiency"] == pytest.approx(two["images_per_s"] / (2 * one["images_per_s"]))
  # The batch is split: each of the 2 devices does the work of the 1-device step at the same per-device batch.
  assert two["work_split"] == pytest.approx(one["flops_per_device"] / two["flops_per_device"])
  assert two["work_split"] == pytest.approx(1.0, abs=0.02)
  assert report["simulated_cpu_devices"] is True


def test_collect_merges_reports_per_machine_and_renders_tables(train_step_report, tmp_path, monkeypatch):
  monkeypatch.setattr(collect, "RESULTS", tmp_path)
  source = tmp_path / "ts.json"
  source.write_text(json.dumps(train_step_report))
  monkeypatch.setattr(sys, "argv", ["collect.py", "--tag", "test-machine", f"train_step={source}"])
  collect.main()
  merged = json.loads((tmp_path / "test-machine.json").read_text())
  assert merged["train_step"] == train_step_report
  table = (tmp_path / "test-machine.md").read_text()
  assert "## train_step" in table and "| classifier | 64 | 8 | float32 |" in table


@pytest.mark.parametrize("report, line", [
    ({"device": "cpu", "date": "2026-12-03", "jax_version": "0.10.2"}, "cpu, 2026-12-03, jax 0.10.2."),
    ({"processor": "x86_64", "date": "2026-12-03", "n_slices": 64}, "x86_64, 2026-12-03.")])
def test_a_rendered_report_names_only_the_provenance_it_records(report, line):
  assert collect.render("m", {"data_loading": report}).splitlines()[6] == line


def test_collect_names_an_unreadable_report(tmp_path, monkeypatch, capsys):
  monkeypatch.setattr(collect, "RESULTS", tmp_path)
  monkeypatch.setattr(sys, "argv", ["collect.py", "--tag", "m", f"scaling={tmp_path / 'missing.json'}"])
  with pytest.raises(SystemExit):
    collect.main()
  error = capsys.readouterr().err
  assert "scaling" in error and "missing.json" in error
