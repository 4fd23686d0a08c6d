"""Stage 4: BAGAN's alternating min-max step (METHOD.md §3.4), one jitted function per real batch.

For a real batch (x, y) of size B and n classes:
- D step: F = ceil(B / n) fakes G(z), z ~ N(mu_c, Sigma_c) with c uniform, labelled FAKE (= n),
  so fakes are F / (B + F) of D's batch, BAGAN's "1/(n+1)". D minimises the (n+1)-way softmax
  cross-entropy on concat(x, fakes). Fakes come from G in inference mode, as Keras BAGAN's
  `generator.predict` makes them, and carry no gradient to G.
- G step: B + F new conditioning classes c (never FAKE), loss = cross-entropy of the updated D on
  G(z) against c; only G's parameters move. D runs in training mode (batch statistics, dropout)
  as in Keras's combined model, but the batch statistics it computes on fakes are discarded.
"""

from __future__ import annotations

import math
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding

from gancbam_jax.models import fake_label
from gancbam_jax.train.batches import draw_batch
from gancbam_jax.train.gaussians import sample_latents
from gancbam_jax.train.state import TrainState, all_finite


@flax.struct.dataclass
class GanState:
  """Generator and discriminator states, stepped together; `step` counts adversarial steps."""

  generator: TrainState
  discriminator: TrainState

  @property
  def step(self) -> jax.Array:
    return self.discriminator.step


def fakes_per_batch(batch_size: int, n_classes: int) -> int:
  """F = ceil(B / n): the fakes added to a real batch of B, making them 1/(n+1) of D's batch."""
  return math.ceil(batch_size / n_classes)


def discriminator_batch(real_images: jax.Array, real_labels: jax.Array, fake_images: jax.Array,
                        n_classes: int) -> tuple[jax.Array, jax.Array]:
  """D's training batch: real images with their classes, then fakes with the FAKE class."""
  fake_targets = jnp.full((fake_images.shape[0],), fake_label(n_classes), real_labels.dtype)
  return jnp.concatenate([real_images, fake_images]), jnp.concatenate([real_labels, fake_targets])


def conditioning_classes(key: jax.Array, count: int, n_classes: int) -> jax.Array:
  """Uniform class indices in [0, n_classes): the classes G is asked for, never FAKE."""
  return jax.random.randint(key, (count,), 0, n_classes, jnp.int32)


def _cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
  return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets).mean()


def _generate(generator: TrainState, params: Any, z: jax.Array, train: bool):
  variables = {"params": params, "batch_stats": generator.batch_stats}
  if train:
    return generator.apply_fn(variables, z, train=True, mutable=["batch_stats"])
  return generator.apply_fn(variables, z, train=False), None


def discriminator_update(generator: TrainState, discriminator: TrainState, x_real: jax.Array, y_real: jax.Array,
                         key: jax.Array, latent_mean: jax.Array, latent_scale: jax.Array,
                         n_classes: int) -> tuple[TrainState, dict]:
  """D's step on the real batch plus F = ceil(B / n) fakes labelled FAKE; G is not changed."""
  k_class, k_latent, k_dropout = jax.random.split(key, 3)
  classes = conditioning_classes(k_class, fakes_per_batch(x_real.shape[0], n_classes), n_classes)
  z = sample_latents(k_latent, latent_mean, latent_scale, classes)
  x_fake = jax.lax.stop_gradient(_generate(generator, generator.params, z, train=False)[0])
  x_d, y_d = discriminator_batch(x_real, y_real, x_fake, n_classes)

  def loss_fn(params):
    logits, updates = discriminator.apply_fn({"params": params, "batch_stats": discriminator.batch_stats}, x_d,
                                             train=True, mutable=["batch_stats"], rngs={"dropout": k_dropout})
    return _cross_entropy(logits, y_d), (updates, logits)

  (loss, (updates, logits)), grads = jax.value_and_grad(loss_fn, has_aux=True)(discriminator.params)
  discriminator = discriminator.apply_gradients(grads=grads, batch_stats=updates["batch_stats"])
  return discriminator, {"d_loss": loss, "d_accuracy": jnp.mean(jnp.argmax(logits, axis=-1) == y_d),
                         "d_fake_fraction": jnp.mean(y_d == fake_label(n_classes))}


def generator_update(generator: TrainState, discriminator: TrainState, key: jax.Array, count: int,
                     latent_mean: jax.Array, latent_scale: jax.Array, n_classes: int) -> tuple[TrainState, jax.Array]:
  """G's step: `count` fakes should be classified as their conditioning class; D is not changed."""
  k_class, k_latent, k_dropout = jax.random.split(key, 3)
  classes = conditioning_classes(k_class, count, n_classes)
  z = sample_latents(k_latent, latent_mean, latent_scale, classes)

  def loss_fn(params):
    fakes, updates = _generate(generator, params, z, train=True)
    # mutable=['batch_stats'] and the result dropped: D's statistics on fakes must not leak into D.
    logits, _ = discriminator.apply_fn(discriminator.variables, fakes, train=True, mutable=["batch_stats"],
                                       rngs={"dropout": k_dropout})
    return _cross_entropy(logits, classes), updates

  (loss, updates), grads = jax.value_and_grad(loss_fn, has_aux=True)(generator.params)
  return generator.apply_gradients(grads=grads, batch_stats=updates["batch_stats"]), loss


def bagan_step(state: GanState, key: jax.Array, images: jax.Array, labels: jax.Array, latent_mean: jax.Array,
               latent_scale: jax.Array, *, batch_size: int, n_classes: int, bootstrap: bool = False,
               batch_sharding: NamedSharding | None = None) -> tuple[GanState, dict]:
  """One D step, then one G step against the updated D; returns the new state and metrics.

  With one class and z ~ N(0, I) this is a DCGAN step (real vs fake); `bootstrap` draws the real
  batch with replacement, as ATR-GAN's "batching" does for a handful of minority images.
  """
  k_batch, k_discriminator, k_generator = jax.random.split(key, 3)
  x_real, y_real = draw_batch(k_batch, images, labels, batch_size, batch_sharding, bootstrap)
  discriminator, metrics = discriminator_update(state.generator, state.discriminator, x_real, y_real, k_discriminator,
                                                latent_mean, latent_scale, n_classes)
  generator, g_loss = generator_update(state.generator, discriminator, k_generator,
                                       batch_size + fakes_per_batch(batch_size, n_classes), latent_mean, latent_scale,
                                       n_classes)
  finite = jnp.isfinite(metrics["d_loss"]) & jnp.isfinite(g_loss) & all_finite((generator.params, discriminator.params))
  return GanState(generator=generator, discriminator=discriminator), {**metrics, "g_loss": g_loss, "finite": finite}
