"""Batched inference over host arrays: one compiled batch shape, the last batch padded.

Imports only jax and numpy, so the exported-model runtime shares it with training and evaluation.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np


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
