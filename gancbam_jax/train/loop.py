"""The resumable step loop shared by the training stages: steps, logging, NaN checks, checkpoints.

A stage's randomness is one key; step s uses `fold_in(key, s)`. The loop therefore needs only
(state, key, s) to continue exactly where a checkpoint left off, which makes a resumed run
compute the same parameters as an uninterrupted one. Metrics stay on the device between log
intervals and are fetched together, then checked: the first non-finite step stops the run
before anything after it is checkpointed.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any, Callable

import jax
import numpy as np
from absl import logging
from flax import serialization
from tqdm import tqdm

from gancbam_jax.train.checkpoints import StageCheckpoints
from gancbam_jax.train.metrics_log import MetricsLog

StepFn = Callable[[Any, jax.Array], tuple[Any, dict]]


class NonFiniteLossError(RuntimeError):
  """A loss or parameter became NaN or Inf; names the stage and step."""

  def __init__(self, stage: str, step: int, metrics: dict, last_checkpoint: int | None):
    shown = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if k != "finite")
    kept = f"the last good checkpoint (step {last_checkpoint}) is kept" if last_checkpoint is not None else \
        "no checkpoint of this stage was written"
    super().__init__(f"stage {stage!r}, step {step}: a loss or parameter is NaN or Inf ({shown}); {kept}. "
                     "Lower the stage's learning rate or check the input data, then rerun with a new --workdir "
                     "or the same one to resume from that checkpoint.")
    self.stage, self.step = stage, step


class IncompleteRunError(RuntimeError):
  """Evaluation found a stage without a finished checkpoint; it never trains, so it stops."""


@dataclasses.dataclass(frozen=True)
class StageSchedule:
  """How long a stage runs and how often it logs and checkpoints."""

  steps: int
  log_every: int
  checkpoint_every: int


@dataclasses.dataclass
class StageReport:
  """What a finished stage reports: its steps, wall time and final metrics."""

  stage: str
  first_step: int
  last_step: int
  wall_s: float
  steps_per_s: float
  first_step_s: float  # includes compilation when the stage started fresh or resumed in a new process
  final_metrics: dict

  def line(self) -> str:
    if self.first_step == self.last_step:
      return f"stage {self.stage}: already complete, restored from its checkpoint at step {self.last_step}"
    losses = ", ".join(f"{k} {v:.4g}" for k, v in self.final_metrics.items())
    return (f"stage {self.stage}: steps {self.first_step}->{self.last_step} in {self.wall_s:.1f} s "
            f"({self.steps_per_s:.2f} steps/s after a first step of {self.first_step_s:.1f} s), {losses}")


class Stage:
  """One stage's checkpoints, log and metadata around a jitted step function."""

  def __init__(self, name: str, checkpoints: StageCheckpoints, log: MetricsLog, meta: dict, chief: bool = True,
               restore_only: bool = False):
    self.name, self.checkpoints, self.log, self.meta, self.chief = name, checkpoints, log, meta, chief
    self.restore_only = restore_only

  def require_trainable(self, start: int, steps: int) -> None:
    """Raises IncompleteRunError when steps remain but this stage may only be restored."""
    if self.restore_only and start < steps:
      raise IncompleteRunError(f"stage {self.name!r} has no checkpoint at its last step {steps} (latest: "
                               f"{start or 'none'}) in {self.checkpoints.directory.parent}; finish training first "
                               "(launch/train.py with the same --workdir resumes it)")

  def _tree(self, state, key, extras) -> dict:
    # The key data as a host array: every process holds the same key, and Orbax writes a host array
    # once, where a key on one local device is an array it cannot save from several processes.
    return {"train": serialization.to_state_dict(state), "key": np.asarray(jax.random.key_data(key)),
            "extras": extras}

  def save(self, step: int, state, key: jax.Array, extras: dict | None = None) -> None:
    self.checkpoints.save(step, self._tree(state, key, extras or {}), {**self.meta, "stage": self.name, "step": step})

  def restore_latest(self, state, key: jax.Array, extras: dict | None = None):
    """(step, state, key, extras) of the latest checkpoint, or None when the stage has none."""
    restored = self.checkpoints.restore_latest(self._tree(state, key, extras or {}))
    if restored is None:
      return None
    step, tree, _ = restored
    state = serialization.from_state_dict(state, tree["train"])
    # The key data comes back as the host array it was saved as, so the key is uncommitted, as a fresh
    # one is, and goes where the step needs it (committed to device 0, it met a state on devices 0..n-1
    # and jit refused the pair).
    key = jax.random.wrap_key_data(tree["key"], impl=jax.random.key_impl(key))
    logging.info("stage %s: resuming from the checkpoint at step %d", self.name, step)
    return step, state, key, tree["extras"]

  def resume(self, state, key: jax.Array):
    """(step, state, key) of the latest checkpoint, or (0, state, key) unchanged when the stage has none."""
    resumed = self.restore_latest(state, key)
    return resumed[:3] if resumed else (0, state, key)

  def run(self, state, key: jax.Array, step_fn: StepFn, schedule: StageSchedule, start: int = 0,
          extras: dict | None = None, on_log: Callable[[int, Any], dict] | None = None) -> tuple[Any, StageReport]:
    """Runs steps start+1..schedule.steps; returns the final state and the stage's report.

    `on_log(step, state)` may return extra metrics (e.g. a validation loss) to log with the step's.
    """
    self.require_trainable(start, schedule.steps)
    self.log.forget_after(self.name, start)
    bar = tqdm(total=schedule.steps, initial=start, desc=self.name, unit="step", dynamic_ncols=True,
               disable=not (self.chief and sys.stderr.isatty()))
    pending: list[tuple[int, dict]] = []
    began = interval_began = time.perf_counter()
    first_step_s, logged = 0.0, {}
    for step in range(start + 1, schedule.steps + 1):
      state, metrics = step_fn(state, jax.random.fold_in(key, step))
      pending.append((step, metrics))
      if step == start + 1:
        jax.block_until_ready(metrics)
        first_step_s = time.perf_counter() - began
        interval_began = time.perf_counter()
      checkpoint_now = step % schedule.checkpoint_every == 0 or step == schedule.steps
      if not (checkpoint_now or step % schedule.log_every == 0):
        continue
      fetched = jax.device_get(pending)
      for s, m in fetched:
        if not m["finite"]:
          self.checkpoints.wait()
          bar.close()
          raise NonFiniteLossError(self.name, s, {k: float(v) for k, v in m.items()}, self.checkpoints.latest_step())
      elapsed = time.perf_counter() - interval_began
      timed_steps = len(fetched) - (1 if fetched[0][0] == start + 1 else 0)
      logged = {k: float(np.mean([m[k] for _, m in fetched])) for k in fetched[-1][1] if k != "finite"}
      if on_log is not None:
        logged.update(on_log(step, state))
      speed = timed_steps / elapsed if timed_steps and elapsed > 0 else 0.0
      self.log.write(self.name, step, {**logged, "steps_per_s": speed})
      bar.set_postfix({k: f"{v:.4g}" for k, v in logged.items()}, refresh=False)
      bar.update(step - bar.n)
      if checkpoint_now:
        self.save(step, state, key, extras)
      pending, interval_began = [], time.perf_counter()  # steps/s counts steps only, not logging or saving
    self.checkpoints.wait()
    bar.close()
    wall = time.perf_counter() - began
    steps_run = schedule.steps - start
    report = StageReport(self.name, start, schedule.steps, wall,
                         (steps_run - 1) / (wall - first_step_s) if steps_run > 1 and wall > first_step_s else 0.0,
                         first_step_s, logged)
    return state, report
