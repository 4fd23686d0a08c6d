"""Batches drawn on the device from a training set kept resident there.

A few thousand 64x64 slices take tens of MB, so the whole training split lives on every device
and each step draws its batch with `jax.random` inside the jitted step: no host-to-device copy
per step. Within a batch images are distinct (unless it is a bootstrap batch); across steps they
are drawn with replacement.
"""

from __future__ import annotations

import jax
from jax.sharding import NamedSharding


def draw_batch(key: jax.Array, images: jax.Array, labels: jax.Array, batch_size: int,
               sharding: NamedSharding | None = None, bootstrap: bool = False) -> tuple[jax.Array, jax.Array]:
  """`batch_size` (image, label) pairs, distinct unless `bootstrap`; split over devices by `sharding` when given.

  A bootstrap batch draws with replacement, so a set smaller than the batch still fills it.
  """
  index = jax.random.choice(key, images.shape[0], (batch_size,), replace=bootstrap)
  x, y = images[index], labels[index]
  if sharding is not None:
    x, y = jax.lax.with_sharding_constraint((x, y), sharding)
  return x, y
