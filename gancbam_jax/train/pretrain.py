"""Stage 1: autoencoder pretraining, MSE reconstruction of all training images (METHOD.md §3.1)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding

from gancbam_jax.train.batches import draw_batch
from gancbam_jax.train.state import TrainState, all_finite


def reconstruction_loss(params, state: TrainState, images: jax.Array) -> tuple[jax.Array, dict]:
  """Mean squared reconstruction error in training mode, and the updated BatchNorm statistics."""
  reconstructions, updates = state.apply_fn({"params": params, "batch_stats": state.batch_stats}, images,
                                            train=True, mutable=["batch_stats"])
  return jnp.mean(jnp.square(reconstructions - images)), updates


def autoencoder_step(state: TrainState, key: jax.Array, images: jax.Array, labels: jax.Array, *,
                     batch_size: int, batch_sharding: NamedSharding | None = None) -> tuple[TrainState, dict]:
  """One Adam step on a batch drawn from the resident training images; returns (state, metrics)."""
  x, _ = draw_batch(key, images, labels, batch_size, batch_sharding)
  (loss, updates), grads = jax.value_and_grad(reconstruction_loss, has_aux=True)(state.params, state, x)
  state = state.apply_gradients(grads=grads, batch_stats=updates["batch_stats"])
  return state, {"loss": loss, "finite": jnp.isfinite(loss) & all_finite(state.params)}


def per_image_reconstruction_error(state: TrainState, images: jax.Array) -> jax.Array:
  """Mean squared error per image (N,), inference mode (running BatchNorm statistics)."""
  reconstructions = state.apply_fn(state.variables, images, train=False)
  return jnp.mean(jnp.square(reconstructions - images), axis=(1, 2, 3))
