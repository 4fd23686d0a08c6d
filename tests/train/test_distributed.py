"""Two processes on this machine as one JAX job (jax.distributed, 2 CPU devices each) train the smoke config.

Each process loads the same data and steps the same replicated state over the 4 devices of the job;
only process 0 writes logs, plots and results, and the checkpoints restore in one process.
"""

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys

import pytest

from configs import smoke
from gancbam_jax.experiment import evaluate_workdir
from gancbam_jax.train import parallel
from gancbam_jax.train.metrics_log import read_metrics
from gancbam_jax.train.pipeline import TrainedStages, prepare_run

REPO = pathlib.Path(__file__).resolve().parents[2]
PROCESSES = 2
DEVICES_PER_PROCESS = 2
# The smoke config scored by BAGAN's discriminator: the autoencoder and BAGAN train sharded over the job, and the
# classifier stage, which shards its batches the same way, is left out (a quarter of the run's training time).
OVERRIDES = {"train.log_every": 1, "detect.method": "discriminator"}
ARGS = ["--config", str(REPO / "configs" / "smoke.py"), "--config.distributed=True",
        *(f"--config.{field}={value}" for field, value in OVERRIDES.items())]
TIMEOUT_S = 600
# As in test_pipeline.py: the same first step on the same 4 devices, the gradient all-reduce summed
# across processes instead of within one.
FIRST_STEP_RTOL = 1e-6


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_process_run(dataset_cache, tmp_path_factory) -> tuple[pathlib.Path, list[str]]:
  """The workdir of the 2-process smoke run and each process's standard output."""
  del dataset_cache  # exported as GANCBAM_CACHE, which the launched processes inherit
  workdir, logs = tmp_path_factory.mktemp("two-processes"), tmp_path_factory.mktemp("two-processes-logs")
  env = {**os.environ, "JAX_NUM_CPU_DEVICES": str(DEVICES_PER_PROCESS), "JAX_NUM_PROCESSES": str(PROCESSES),
         "JAX_COORDINATOR_ADDRESS": f"localhost:{_free_port()}"}
  processes = []
  for i in range(PROCESSES):
    # Files, not pipes: a process blocked on a full pipe would stall the other in the next collective.
    with open(logs / f"{i}.out", "w") as out, open(logs / f"{i}.err", "w") as err:
      processes.append(subprocess.Popen([sys.executable, str(REPO / "launch" / "train.py"), *ARGS,
                                         f"--workdir={workdir}"], stdout=out, stderr=err,
                                        env={**env, "JAX_PROCESS_ID": str(i)}))
  try:
    codes = [p.wait(timeout=TIMEOUT_S) for p in processes]
  finally:
    for p in processes:
      p.kill()
  for i, code in enumerate(codes):
    assert code == 0, f"process {i}: {(logs / f'{i}.err').read_text()[-3000:]}"
  return workdir, [(logs / f"{i}.out").read_text() for i in range(PROCESSES)]


def smoke_config():
  """The config the two processes train, as one process on its own devices runs it."""
  config = smoke.get_config()
  config.update_from_flattened_dict(OVERRIDES)
  return config


def test_the_processes_train_as_one_job_over_all_their_devices(two_process_run):
  workdir, _ = two_process_run
  summary = json.loads((workdir / "train_summary.json").read_text())
  assert len(summary["devices"]) == PROCESSES * DEVICES_PER_PROCESS
  assert json.loads((workdir / "results.json").read_text())["splits"]["test"]["slices"] > 0


def test_only_process_zero_writes_logs_and_reports(two_process_run):
  workdir, (chief_out, other_out) = two_process_run
  records = [(r["stage"], r["step"]) for r in read_metrics(workdir)]
  assert len(records) == len(set(records))
  assert [step for stage, step in records if stage == "autoencoder"] == list(range(1, smoke_config().train.ae_steps + 1))
  # TensorBoard names its event file after the writing process, so a second writer would add a file.
  assert len(list((workdir / "tensorboard").glob("events.out.tfevents.*"))) == 1
  # What the chief prints, process 1 does not (both print Gloo's connection messages, from other threads).
  for printed in ("stage autoencoder:", "stage bagan:", "on the test split", "report:", "compile cache"):
    assert printed in chief_out and printed not in other_out, printed


def test_the_first_step_loss_is_that_of_one_process_on_four_devices(two_process_run, tmp_path):
  workdir, _ = two_process_run
  run = prepare_run(smoke_config(), tmp_path)
  try:
    TrainedStages(run).autoencoder
  finally:
    run.log.close()
  assert run.mesh.devices.size == PROCESSES * DEVICES_PER_PROCESS
  first = lambda directory: read_metrics(directory, "autoencoder")[0]
  assert first(workdir)["step"] == first(tmp_path)["step"] == 1
  assert first(workdir)["loss"] == pytest.approx(first(tmp_path)["loss"], rel=FIRST_STEP_RTOL)


def test_its_checkpoints_restore_and_score_the_same_in_one_process(two_process_run, tmp_path):
  trained, _ = two_process_run
  workdir = tmp_path / "run"
  shutil.copytree(trained, workdir)
  results = evaluate_workdir(workdir)
  assert results["roc_auc"] == json.loads((trained / "results.json").read_text())["roc_auc"]
  assert (workdir / "scores.csv").read_text() == (trained / "scores.csv").read_text()


def test_a_malformed_process_count_is_refused_naming_the_variable(monkeypatch):
  monkeypatch.setenv(parallel.PROCESS_COUNT_VARIABLE, "two")
  with pytest.raises(ValueError, match=r"JAX_NUM_PROCESSES='two' must be an integer"):
    parallel.initialize_distributed(True)
