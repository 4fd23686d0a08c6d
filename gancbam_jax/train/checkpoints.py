"""Orbax checkpoints of one training stage: arrays (states, PRNG key data, class Gaussians) plus JSON metadata.

Each stage has its own `CheckpointManager` under `<workdir>/checkpoints/<stage>`, saving
asynchronously and keeping the newest `max_to_keep` steps. An item is two parts:
- `state`: a pytree of arrays (train states as Flax state dicts, `jax.random.key_data` of the
  stage's key, the frozen class Gaussians);
- `meta`: JSON (stage, step, normalisation statistics, the run's config).
Orbax writes into a temporary directory and renames it when complete, so a run killed mid-save
leaves the previous checkpoint as the latest; the leftover temporary directory is removed on the
next start. A step damaged afterwards (a file deleted or cut short by a full disk or a bad copy)
does not read back: `restore_latest` then moves it aside into `<stage>.damaged/`, warns naming
the step, and returns the newest step that does read back, so the stage resumes from there. It
checks a step's files itself before Orbax reads them: Orbax reads arrays concurrently inside an
asyncio loop, and when one read fails the others complete into the closed loop, each printing a
traceback a user would take for a crash.
"""

from __future__ import annotations

import json
import pathlib
import time
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
import tensorstore
from absl import logging


class CheckpointMismatchError(RuntimeError):
  """A checkpoint that reads back whole but does not fit the model asking for it (another config or code)."""


class StageCheckpoints:
  """Saves and restores one stage's checkpoints; every process of a multi-host job must call it."""

  def __init__(self, directory: str | pathlib.Path, max_to_keep: int = 3):
    # Orbax's async thread needs an absolute path: a relative one fails there and no checkpoint lands.
    self.directory = pathlib.Path(directory).expanduser().resolve()
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True, cleanup_tmp_directories=True,
                                           enable_async_checkpointing=True)
    self._manager = ocp.CheckpointManager(self.directory, options=options, item_names=("state", "meta"))

  def latest_step(self) -> int | None:
    """The newest completely written step, or None."""
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    """Every completely written step still kept, oldest first."""
    return sorted(self._manager.all_steps())

  def save(self, step: int, state: Any, meta: dict) -> None:
    """Starts an asynchronous save of `state` (a pytree of arrays) and `meta` (JSON) at `step`."""
    self._manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
                       force=True)

  def restore(self, step: int, like: Any) -> tuple[Any, dict]:
    """The (state, meta) saved at `step`; `like` gives the state's structure, shapes, dtypes and shardings."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    restored = self._manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                                                   meta=ocp.args.JsonRestore()))
    return restored.state, restored.meta

  def restore_latest(self, like: Any) -> tuple[int, Any, dict] | None:
    """(step, state, meta) of the newest step that reads back; None when there is none.

    A step whose files are missing or cut short is moved aside (see the module docstring) with a
    warning, and the next older one is tried.

    Raises:
      CheckpointMismatchError: a step reads back whole but not into `like`; nothing is moved.
    """
    for step in reversed(self.all_steps()):
      damage = self._damage(step)
      if damage is None:
        try:
          state, meta = self.restore(step, like)
          return step, state, meta
        except Exception as error:  # Orbax and TensorStore raise many types for one damaged file.
          if self._reads_back(step):
            raise CheckpointMismatchError(
                f"the checkpoint at step {step} in {self.directory} does not fit this run's model "
                f"({type(error).__name__}: {error}); use a new --workdir, or the config the run was started with"
            ) from error
          damage = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
      aside = self._set_aside(step)
      logging.warning("checkpoint step %d in %s cannot be read back (%s); moved to %s, trying the step before",
                      step, self.directory, damage, aside)
    return None

  def _damage(self, step: int) -> str | None:
    """What is missing or cut short among a step's files, read one by one; None when all read back.

    Orbax's metadata files are JSON; the arrays are an OCDBT key-value store whose every value is read.
    """
    step_dir = self.directory / str(step)
    for name in ("meta/metadata", "state/_METADATA"):
      if not (step_dir / name).is_file():
        return f"{name} is missing"
    for path in sorted(step_dir.rglob("*")):
      if path.is_file() and path.suffix not in (".ocdbt", ".txt") and path.parent.name != "d":
        try:
          json.loads(path.read_bytes())
        except ValueError:
          return f"{path.relative_to(step_dir)} is not the JSON Orbax wrote"
    try:
      store = tensorstore.KvStore.open({"driver": "ocdbt", "base": f"file://{step_dir / 'state'}/"}).result()
      for key in store.list().result():
        store.read(key).result()
    except ValueError as error:  # TensorStore's errors for a missing or short file
      return f"state: {str(error).splitlines()[0][:200]}"
    return None

  def _reads_back(self, step: int) -> bool:
    """Whether every array and the metadata of a step read back, whatever their structure."""
    try:
      self.read_arrays(step)
      self.read_meta(step)
    except Exception:  # any failure to read means damage here
      return False
    return True

  def _set_aside(self, step: int) -> pathlib.Path:
    """Moves a damaged step out of the manager's directory, so a later save of that step starts clean."""
    aside = self.directory.parent / f"{self.directory.name}.damaged" / f"{step}-{time.strftime('%Y%m%dT%H%M%S')}"
    aside.parent.mkdir(parents=True, exist_ok=True)
    (self.directory / str(step)).rename(aside)
    self._manager.reload()
    return aside

  def read_meta(self, step: int) -> dict:
    """The JSON metadata saved at `step`, without reading its arrays."""
    return self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta

  def read_arrays(self, step: int) -> dict:
    """The state saved at `step` as nested dicts of NumPy arrays, no target structure needed (inspection)."""
    path = self.directory / str(step) / "state"
    checkpointer = ocp.PyTreeCheckpointer()
    layout = checkpointer.metadata(path).item_metadata.tree
    return checkpointer.restore(path, restore_args=jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray),
                                                                layout))

  def wait(self) -> None:
    """Blocks until pending asynchronous saves are on disk."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
