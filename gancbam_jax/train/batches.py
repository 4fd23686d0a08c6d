"""Batches drawn on the device from a training set kept resident there.

A few thousand 64x64 slices take tens of MB, so the whole training split lives on every device
and each step draws its batch with `jax.random` inside the jitted step: no host-to-device copy
per step. Within a batch images are distinct, unless it is a bootstrap batch or the set holds
fewer slices than a batch (the paper's 100 slices leave about 20 per training class); across
steps they are drawn with replacement.
"""

from __future__ import annotations

import jax
from jax.sharding import NamedSharding

from gancbam_jax.train.parallel import split_batch


def draws_with_replacement(set_size: int, batch_size: int, bootstrap: bool = False) -> bool:
  """Whether a batch from a set of `set_size` repeats slices: asked for, or the set is smaller than the batch."""
  return bootstrap or batch_size > set_size


def batching_note(what: str, set_size: int, batch_size: int) -> str | None:
  """The line a run prints when a set is smaller than its batch, or None when it is not."""
  if not draws_with_replacement(set_size, batch_size):
    return None
  return (f"{what}: {set_size} slices, fewer than a batch of {batch_size}; each batch is drawn with replacement "
          "(train.batch_size sets the batch)")


def draw_batch(key: jax.Array, images: jax.Array, labels: jax.Array, batch_size: int,
               sharding: NamedSharding | None = None, bootstrap: bool = False) -> tuple[jax.Array, jax.Array]:
  """`batch_size` (image, label) pairs, split over devices by `sharding` when given. Any two arrays aligned
  along their first axis pair the same way (BAGAN's anchor draws latents with their slices).

  Distinct unless `bootstrap` or the set is smaller than the batch: then drawn with replacement,
  so a set of any size fills the batch.
  """
  replace = draws_with_replacement(images.shape[0], batch_size, bootstrap)
  index = jax.random.choice(key, images.shape[0], (batch_size,), replace=replace)
  return split_batch((images[index], labels[index]), sharding)
