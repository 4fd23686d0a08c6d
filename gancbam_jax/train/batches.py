"""Batches drawn on the device from a training set kept resident there, and batched inference.

A few thousand 64x64 slices take tens of MB, so the whole training split lives on every device
and each step draws its batch with `jax.random` inside the jitted step: no host-to-device copy
per step. Within a batch images are distinct; across steps they are drawn with replacement.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding


def draw_batch(key: jax.Array, images: jax.Array, labels: jax.Array, batch_size: int,
               sharding: NamedSharding | None = None) -> tuple[jax.Array, jax.Array]:
  """`batch_size` distinct (image, label) pairs; split over devices by `sharding` when given."""
  index = jax.random.choice(key, images.shape[0], (batch_size,), replace=False)
  x, y = images[index], labels[index]
  if sharding is not None:
    x, y = jax.lax.with_sharding_constraint((x, y), sharding)
  return x, y


def map_in_batches(fn: Callable[[jax.Array], Any], inputs: np.ndarray, batch_size: int) -> Any:
  """Applies a jitted `fn` to `inputs` in fixed-size batches (the last one padded) and concatenates.

  Padding keeps one compiled shape for every batch; the padded rows are dropped from the result.
  `fn` may return an array or a tuple (any pytree) of arrays with the batch as leading axis.
  """
  outputs = []
  for start in range(0, len(inputs), batch_size):
    chunk = inputs[start:start + batch_size]
    padded = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - len(chunk), axis=0)]) if len(chunk) < batch_size else chunk
    outputs.append(jax.tree.map(lambda y: np.asarray(y)[:len(chunk)], fn(jnp.asarray(padded))))
  if not outputs:
    raise ValueError("map_in_batches got no inputs")
  return jax.tree.map(lambda *parts: np.concatenate(parts), *outputs)
