"""Helpers of the model tests: one initialisation and one jitted training pass per (variant, image size)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from gancbam_jax.models import Autoencoder, Variables, attention_maps, build_autoencoder, init_variables

BATCH = 2
LATENT_DIM = 16


def images(image_size: int, seed: int = 0) -> jax.Array:
  """A small batch of random images in [0, 1]."""
  return jax.random.uniform(jax.random.key(seed), (BATCH, image_size, image_size, 1))


@functools.cache
def autoencoder_setup(variant: str, image_size: int) -> tuple[Autoencoder, Variables]:
  """(autoencoder, variables) for a variant and size, initialised once per test session."""
  autoencoder = build_autoencoder(variant, image_size, LATENT_DIM)
  return autoencoder, init_variables(autoencoder, jax.random.key(1))


def _reconstruct_with_latent(model: nn.Module, x: jax.Array, train: bool) -> tuple[jax.Array, jax.Array]:
  z = model.encode(x, train)
  return model.decode(z, train), z


@functools.cache
def autoencoder_training_pass(variant: str, image_size: int) -> dict:
  """One jitted training-mode pass: MSE loss, gradients, reconstruction, latents, attention maps."""
  autoencoder, variables = autoencoder_setup(variant, image_size)

  def loss_fn(params, x):
    (reconstruction, z), state = autoencoder.apply(
        {"params": params, "batch_stats": variables["batch_stats"]}, x, train=True,
        method=lambda model, x, train: _reconstruct_with_latent(model, x, train),
        mutable=["batch_stats", "intermediates"])
    return jnp.mean((reconstruction - x) ** 2), (reconstruction, z, state)

  step = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))
  (loss, (reconstruction, z, state)), grads = step(variables["params"], images(image_size))
  return dict(loss=loss, grads=grads, reconstruction=reconstruction, latent=z,
              batch_stats=state["batch_stats"], maps=attention_maps(state.get("intermediates", {})))


def assert_every_leaf_has_gradient(grads) -> None:
  """Fails naming each parameter whose gradient is identically zero or not finite."""
  flat = jax.tree_util.tree_flatten_with_path(grads)[0]
  dead = [jax.tree_util.keystr(path) for path, g in flat if not np.any(np.asarray(g) != 0)]
  bad = [jax.tree_util.keystr(path) for path, g in flat if not np.all(np.isfinite(np.asarray(g)))]
  assert not dead, f"no gradient reaches {dead}"
  assert not bad, f"non-finite gradient in {bad}"

