"""Orbax checkpoints of one training stage: arrays (states, PRNG key data, class Gaussians) plus JSON metadata.

Each stage has its own `CheckpointManager` under `<workdir>/checkpoints/<stage>`, saving
asynchronously and keeping the newest `max_to_keep` steps. An item is two parts:
- `state`: a pytree of arrays (train states as Flax state dicts, `jax.random.key_data` of the
  stage's key, the frozen class Gaussians);
- `meta`: JSON (stage, step, normalisation statistics, the run's config).
Orbax writes into a temporary directory and renames it when complete, so a run killed mid-save
leaves the previous checkpoint as the latest; the leftover temporary directory is removed on the
next start.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


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
