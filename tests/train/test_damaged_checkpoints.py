"""A checkpoint cut short or missing a file: the stage resumes from the step before, with a warning; never a traceback."""

import jax.numpy as jnp
import numpy as np
import pytest
from absl import logging

from gancbam_jax.train.checkpoints import CheckpointMismatchError, StageCheckpoints

STATE = {"weights": jnp.arange(4096, dtype=jnp.float32).reshape(64, 64), "bias": jnp.ones(8)}


def _saved(directory) -> StageCheckpoints:
  checkpoints = StageCheckpoints(directory, max_to_keep=3)
  for step in (10, 20):
    checkpoints.save(step, {name: value + step for name, value in STATE.items()}, {"step": step})
  checkpoints.wait()
  return checkpoints


def _largest_data_file(step_dir):
  return max((p for p in step_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_a_damaged_latest_step_is_set_aside_and_the_one_before_restored(tmp_path, damage, monkeypatch):
  checkpoints = _saved(tmp_path / "stage")
  victim = _largest_data_file(tmp_path / "stage" / "20" / "state")
  if damage == "truncate":
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
  else:
    victim.unlink()
  warnings = []
  monkeypatch.setattr(logging, "warning", lambda message, *args: warnings.append(message % args))
  step, state, meta = checkpoints.restore_latest(STATE)
  assert step == 10 and meta == {"step": 10}
  np.testing.assert_array_equal(np.asarray(state["weights"]), np.asarray(STATE["weights"]) + 10)
  ours = [w for w in warnings if "cannot be read back" in w]
  assert len(ours) == 1 and "checkpoint step 20" in ours[0] and "stage.damaged" in ours[0]
  assert checkpoints.all_steps() == [10] and list((tmp_path / "stage.damaged").iterdir())
  checkpoints.save(20, STATE, {"step": 20})  # the step can be written again, cleanly
  checkpoints.wait()
  assert checkpoints.restore_latest(STATE)[0] == 20
  checkpoints.close()


def test_a_whole_checkpoint_that_does_not_fit_the_model_is_refused_and_kept(tmp_path):
  checkpoints = _saved(tmp_path / "stage")
  with pytest.raises(CheckpointMismatchError, match="step 20 .* does not fit this run's model"):
    checkpoints.restore_latest({"weights": jnp.zeros((3, 3)), "bias": jnp.ones(8)})
  assert checkpoints.all_steps() == [10, 20] and not (tmp_path / "stage.damaged").exists()
  checkpoints.close()


def test_no_readable_step_means_no_checkpoint(tmp_path):
  checkpoints = _saved(tmp_path / "stage")
  for step in (10, 20):
    _largest_data_file(tmp_path / "stage" / str(step) / "state").unlink()
  assert checkpoints.restore_latest(STATE) is None and checkpoints.all_steps() == []
  checkpoints.close()
