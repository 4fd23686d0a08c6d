"""A run killed with SIGKILL mid-stage and resumed ends with the same parameters as an uninterrupted run.

Both runs are data parallel over the 4 simulated devices the test process has: a resumed state is
placed on the mesh again, and its PRNG key must go with it (on one device it trivially does).
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from gancbam_jax.train.checkpoints import StageCheckpoints

REPO = pathlib.Path(__file__).resolve().parents[2]
# The smoke config with an autoencoder stage long enough to be killed in the middle of it.
AE_STEPS = 24
KILL_AFTER_CHECKPOINT = 8
ARGS = ["--config", str(REPO / "configs" / "smoke.py"), f"--config.train.ae_steps={AE_STEPS}",
        "--config.train.checkpoint_every=4", "--config.train.log_every=4",
        f"--config.train.num_devices={jax.device_count()}"]
TIMEOUT_S = 600


def _command(workdir: pathlib.Path) -> list[str]:
  return [sys.executable, str(REPO / "launch" / "train.py"), *ARGS, f"--workdir={workdir}"]


def _env() -> dict[str, str]:
  """The launched runs' environment: as many CPU devices as this process (conftest sets them, and they do not
  import it), and the GANCBAM_CACHE the dataset_cache fixture exports; read when a run starts, since a copy
  taken at import, before any fixture ran, would send them to the user's ~/.cache."""
  return {**os.environ, "JAX_NUM_CPU_DEVICES": str(jax.device_count())}


def _train(workdir: pathlib.Path) -> subprocess.CompletedProcess:
  result = subprocess.run(_command(workdir), capture_output=True, text=True, timeout=TIMEOUT_S, env=_env())
  assert result.returncode == 0, result.stderr[-3000:]
  return result


def _checkpoint_steps(workdir: pathlib.Path, stage: str) -> list[int]:
  directory = workdir / "checkpoints" / stage
  return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit()) if directory.exists() else []


def _kill_mid_autoencoder_stage(workdir: pathlib.Path) -> int:
  """Starts a run, SIGKILLs it once a mid-stage checkpoint is committed; returns the latest step then."""
  process = subprocess.Popen(_command(workdir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
  deadline = time.monotonic() + TIMEOUT_S
  while not any(step >= KILL_AFTER_CHECKPOINT for step in _checkpoint_steps(workdir, "autoencoder")):
    assert process.poll() is None, "the run ended before it could be killed"
    assert time.monotonic() < deadline, "no checkpoint appeared in time"
    time.sleep(0.02)
  os.kill(process.pid, signal.SIGKILL)
  process.wait()
  return max(_checkpoint_steps(workdir, "autoencoder"))


def _final_state(workdir: pathlib.Path, stage: str) -> dict:
  checkpoints = StageCheckpoints(workdir / "checkpoints" / stage)
  return checkpoints.read_arrays(checkpoints.latest_step())


def _assert_trees_equal(a, b, path=""):
  if isinstance(a, dict):
    assert set(a) == set(b), path
    for key in a:
      _assert_trees_equal(a[key], b[key], f"{path}/{key}")
  else:
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=path)


@pytest.fixture(scope="module")
def uninterrupted(dataset_cache, tmp_path_factory) -> pathlib.Path:
  del dataset_cache  # exported as GANCBAM_CACHE, which the launched runs inherit
  workdir = tmp_path_factory.mktemp("uninterrupted")
  _train(workdir)
  return workdir


@pytest.fixture(scope="module")
def killed(dataset_cache, tmp_path_factory) -> tuple[pathlib.Path, int]:
  """A run killed mid-autoencoder-stage, and its latest checkpoint's step; tests resume copies of it."""
  del dataset_cache
  workdir = tmp_path_factory.mktemp("killed")
  return workdir, _kill_mid_autoencoder_stage(workdir)


def _copy_of(killed: tuple[pathlib.Path, int], tmp_path: pathlib.Path) -> tuple[pathlib.Path, int]:
  """A copy of the killed run for one test to resume, and its latest checkpoint's step."""
  return shutil.copytree(killed[0], tmp_path / "run"), killed[1]


def test_killed_and_resumed_run_matches_an_uninterrupted_one(uninterrupted, killed, tmp_path):
  workdir, killed_at = _copy_of(killed, tmp_path)
  assert KILL_AFTER_CHECKPOINT <= killed_at < AE_STEPS, "the kill did not land mid-stage"
  assert not (workdir / "checkpoints" / "bagan").exists()
  _train(workdir)

  for stage in ("autoencoder", "bagan"):
    assert max(_checkpoint_steps(workdir, stage)) == max(_checkpoint_steps(uninterrupted, stage))
    _assert_trees_equal(_final_state(workdir, stage), _final_state(uninterrupted, stage), stage)
  with np.load(workdir / "augmentation" / "synthetic.npz") as resumed, \
       np.load(uninterrupted / "augmentation" / "synthetic.npz") as reference:
    np.testing.assert_array_equal(resumed["images"], reference["images"])

  # Each (stage, step) is logged once, with the uninterrupted run's values.
  records = lambda run: [{k: v for k, v in json.loads(line).items() if k not in ("time", "steps_per_s")}
                         for line in (run / "metrics.jsonl").read_text().splitlines()]
  assert records(workdir) == records(uninterrupted)


def test_a_run_whose_latest_checkpoint_was_cut_short_resumes_from_the_one_before(uninterrupted, killed, tmp_path):
  workdir, killed_at = _copy_of(killed, tmp_path)
  step_dir = workdir / "checkpoints" / "autoencoder" / str(killed_at)
  victim = max((p for p in step_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
  victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])

  result = _train(workdir)
  assert f"checkpoint step {killed_at} in" in result.stderr and "cannot be read back" in result.stderr
  assert "Traceback" not in result.stderr
  assert (workdir / "checkpoints" / "autoencoder.damaged").is_dir()
  # Resumed from an earlier step, the run still ends where the uninterrupted one does.
  for stage in ("autoencoder", "bagan"):
    _assert_trees_equal(_final_state(workdir, stage), _final_state(uninterrupted, stage), stage)
