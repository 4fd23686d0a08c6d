"""Batches drawn on the device from a training set kept resident there.

A few thousand 64x64 slices take tens of MB, so the whole training split lives on every device
and each step draws its batch with `jax.random` inside the jitted step: no host-to-device copy
per step. Within a batch images are distinct; across steps they are drawn with replacement.
"""

from __future__ import annotations

import jax
from jax.sharding import NamedSharding


def draw_batch(key: jax.Array, images: jax.Array, labels: jax.Array, batch_size: int,
               sharding: NamedSharding | None = None) -> tuple[jax.Array, jax.Array]:
  """`batch_size` distinct (image, label) pairs; split over devices by `sharding` when given."""
  index = jax.random.choice(key, images.shape[0], (batch_size,), replace=False)
  x, y = images[index], labels[index]
  if sharding is not None:
    x, y = jax.lax.with_sharding_constraint((x, y), sharding)
  return x, y
