"""Stage 4: BAGAN's alternating min-max step (METHOD.md §3.4), one jitted function per real batch.

For a real batch (x, y) of size B and n classes, D's batch is x plus F = ceil(B / n) fakes G(z),
z ~ N(mu_c, Sigma_c) with c uniform, labelled FAKE (= n): fakes are F / (B + F) of it, BAGAN's
"1/(n+1)". Every image of that batch passes through DiffAugment (transforms.py) before D sees it.

- D step: D minimises the (n+1)-way softmax cross-entropy on its batch. Fakes come from G in
  inference mode, as Keras BAGAN's `generator.predict` makes them, and carry no gradient to G.
- G step: a batch of the same composition, the same real x with F new fakes (conditioning
  classes never FAKE), through the same DiffAugment and the same D in training mode; G's loss is
  the cross-entropy of the fakes' logits against their conditioning class, and only G moves.
  D's batch statistics from this pass are discarded.

- Anchor (`anchor_weight` > 0; Che et al. 2017's mode regulariser, with BAGAN's frozen encoder as
  their E): the same G pass also decodes the encoder latents of F real training slices, and
  anchor_weight times its MSE to those slices joins G's loss. G must keep drawing every real
  slice its latent stands for, so it cannot collapse onto one slice or cover every slice with one
  texture that fools D, the two ways it failed within 100 steps on tens of real slices.

Why the G step shows D a mixed batch: D normalises with the statistics of its batch. BAGAN's G
step (and this project's first one) scored a batch made only of fakes, whose BatchNorm statistics
are the fakes' own, so it renormalised away exactly the statistics that tell fakes from reals.
G then learnt to fool a network D never was: on the paper's data D's accuracy reached 1.0 by
step 40 while G's loss fell to 0.007 and its slices became high-frequency noise. Scoring fakes
inside a batch composed like D's own makes G's loss the loss D's step is trained against, the
same function of the same kind of batch (a test checks they agree). Scoring them with D in
inference mode would use running statistics that start as the encoder's real-only ones and lag
the mixed batches D trains on.

Data parallel over k devices, the conditioning classes, latents, fakes and D's batches are split
along the batch axis like the real batch, so each device generates and scores its share instead
of all of them. F is then rounded up to a multiple of k (B already is one): at B = 16, n = 2 it
stays 8 for k <= 8; at B = 24, n = 2, k = 8 it is 16, fakes 2/5 of D's batch instead of 1/3.
"""

from __future__ import annotations

import math
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding

from gancbam_jax.models import as_slices, fake_label
from gancbam_jax.train.batches import draw_batch
from gancbam_jax.train.gaussians import sample_latents
from gancbam_jax.train.parallel import split_batch
from gancbam_jax.train.pretrain import reconstruction_error
from gancbam_jax.train.state import TrainState, all_finite
from gancbam_jax.train.transforms import diff_augment


@flax.struct.dataclass
class GanState:
  """Generator and discriminator states, stepped together; `step` counts adversarial steps."""

  generator: TrainState
  discriminator: TrainState

  @property
  def step(self) -> jax.Array:
    return self.discriminator.step


def fakes_per_batch(batch_size: int, n_classes: int, devices: int = 1) -> int:
  """F = ceil(B / n), rounded up to a multiple of `devices`: the fakes added to a real batch of B,
  about 1/(n+1) of D's batch, and split evenly over the devices as the real batch is."""
  return math.ceil(math.ceil(batch_size / n_classes) / devices) * devices


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


def _fake_latents(key: jax.Array, x_real: jax.Array, latent_mean: jax.Array, latent_scale: jax.Array,
                  n_classes: int, sharding: NamedSharding | None = None) -> tuple[jax.Array, jax.Array]:
  """The conditioning classes and latents z ~ N(mu_c, Sigma_c) of the F fakes that join the real batch
  `x_real`, split over devices by `sharding`."""
  devices = 1 if sharding is None else sharding.num_devices
  count = fakes_per_batch(x_real.shape[0], n_classes, devices)
  k_class, k_latent = jax.random.split(key)
  classes = split_batch(conditioning_classes(k_class, count, n_classes), sharding)
  return classes, split_batch(sample_latents(k_latent, latent_mean, latent_scale, classes), sharding)


def discriminator_logits(discriminator: TrainState, params: Any, images: jax.Array, key: jax.Array,
                         policy: tuple[str, ...]) -> tuple[jax.Array, dict]:
  """D in training mode on one DiffAugmented batch: the function D's step trains and G's step is scored by.

  Returns float32 logits and D's updated batch statistics.
  """
  k_augment, k_dropout = jax.random.split(key)
  return discriminator.apply_fn({"params": params, "batch_stats": discriminator.batch_stats},
                                diff_augment(k_augment, images, policy), train=True, mutable=["batch_stats"],
                                rngs={"dropout": k_dropout})


def discriminator_update(generator: TrainState, discriminator: TrainState, x_real: jax.Array, y_real: jax.Array,
                         key: jax.Array, latent_mean: jax.Array, latent_scale: jax.Array, n_classes: int,
                         policy: tuple[str, ...] = (),
                         batch_sharding: NamedSharding | None = None) -> tuple[TrainState, dict]:
  """D's step on the real batch plus F = ceil(B / n) fakes labelled FAKE; G is not changed."""
  k_fake, k_discriminator = jax.random.split(key)
  _, z = _fake_latents(k_fake, x_real, latent_mean, latent_scale, n_classes, batch_sharding)
  x_fake = jax.lax.stop_gradient(as_slices(_generate(generator, generator.params, z, train=False)[0]))
  x_d, y_d = split_batch(discriminator_batch(x_real, y_real, x_fake, n_classes), batch_sharding)

  def loss_fn(params):
    logits, updates = discriminator_logits(discriminator, params, x_d, k_discriminator, policy)
    return _cross_entropy(logits, y_d), (updates, logits)

  (loss, (updates, logits)), grads = jax.value_and_grad(loss_fn, has_aux=True)(discriminator.params)
  discriminator = discriminator.apply_gradients(grads=grads, batch_stats=updates["batch_stats"])
  fake = y_d == fake_label(n_classes)
  correct = jnp.argmax(logits, axis=-1) == y_d
  return discriminator, {"d_loss": loss, "d_accuracy": jnp.mean(correct),
                         "d_fake_accuracy": jnp.sum(correct & fake) / jnp.sum(fake),
                         "d_fake_fraction": jnp.mean(fake)}


@flax.struct.dataclass
class Anchor:
  """Real training slices and their latents under the frozen pretrained encoder, which G's anchor
  term asks it to decode back into those slices; `weight` scales that term in G's loss, whose error is
  the autoencoder's (`reconstruction_error` with the same `floor_margin`)."""

  latents: jax.Array  # (N, latent_dim)
  images: jax.Array  # (N, S, S, C)
  weight: float = flax.struct.field(pytree_node=False, default=0.0)
  floor_margin: float = flax.struct.field(pytree_node=False, default=0.0)


def generator_loss(params: Any, generator: TrainState, discriminator: TrainState, x_real: jax.Array,
                   y_real: jax.Array, z: jax.Array, classes: jax.Array, key: jax.Array, n_classes: int,
                   policy: tuple[str, ...] = (), batch_sharding: NamedSharding | None = None,
                   anchor: Anchor | None = None) -> tuple[jax.Array, tuple[dict, dict]]:
  """G's loss: its fakes G(z), after the real batch in a batch composed like D's, classified as `classes`,
  plus the anchor's weight times the MSE of G(anchor.latents) to anchor.images.

  `key` draws D's augmentation and dropout. G decodes the fakes' and the anchor's latents in one
  pass, so its batch statistics are those of both. Returns the loss and (G's updated batch
  statistics, the adversarial and anchor terms); D's statistics are discarded.
  """
  count = z.shape[0]
  latents = z if anchor is None else jnp.concatenate([z, anchor.latents])
  images, updates = _generate(generator, params, latents, train=True)
  x_d, _ = split_batch(discriminator_batch(x_real, y_real, as_slices(images[:count]), n_classes), batch_sharding)
  logits, _ = discriminator_logits(discriminator, discriminator.params, x_d, key, policy)
  terms = {"g_loss": _cross_entropy(logits[x_real.shape[0]:], classes)}
  if anchor is None:
    return terms["g_loss"], (updates, terms)
  terms["g_anchor_mse"] = jnp.mean(reconstruction_error(images[count:], anchor.images, anchor.floor_margin))
  return terms["g_loss"] + anchor.weight * terms["g_anchor_mse"], (updates, terms)


def generator_update(generator: TrainState, discriminator: TrainState, x_real: jax.Array, y_real: jax.Array,
                     key: jax.Array, latent_mean: jax.Array, latent_scale: jax.Array, n_classes: int,
                     policy: tuple[str, ...] = (), batch_sharding: NamedSharding | None = None,
                     anchor: Anchor | None = None) -> tuple[TrainState, dict]:
  """G's step on F = ceil(B / n) new fakes against D (see `generator_loss`), and with an `anchor` on F
  of its slices drawn at random; D is not changed. Returns G and its loss terms."""
  k_fake, k_discriminator, k_anchor = jax.random.split(key, 3)
  classes, z = _fake_latents(k_fake, x_real, latent_mean, latent_scale, n_classes, batch_sharding)
  drawn = None
  if anchor is not None and anchor.weight > 0:
    latents, images = draw_batch(k_anchor, anchor.latents, anchor.images, z.shape[0], batch_sharding)
    drawn = anchor.replace(latents=latents, images=images)
  (_, (updates, terms)), grads = jax.value_and_grad(generator_loss, has_aux=True)(
      generator.params, generator, discriminator, x_real, y_real, z, classes, k_discriminator, n_classes, policy,
      batch_sharding, drawn)
  return generator.apply_gradients(grads=grads, batch_stats=updates["batch_stats"]), terms


def bagan_step(state: GanState, key: jax.Array, images: jax.Array, labels: jax.Array, latent_mean: jax.Array,
               latent_scale: jax.Array, anchor: Anchor | None = None, *, batch_size: int, n_classes: int,
               policy: tuple[str, ...] = (), bootstrap: bool = False,
               batch_sharding: NamedSharding | None = None) -> tuple[GanState, dict]:
  """One D step, then one G step against the updated D; returns the new state and metrics.

  `policy` names the DiffAugment transforms of every image D sees; `anchor` adds the anchor term to
  G's loss. With one class and z ~ N(0, I) this is a DCGAN step (real vs fake); `bootstrap` draws
  the real batch with replacement, as ATR-GAN's "batching" does for a handful of minority images.
  """
  k_batch, k_discriminator, k_generator = jax.random.split(key, 3)
  x_real, y_real = draw_batch(k_batch, images, labels, batch_size, batch_sharding, bootstrap)
  discriminator, metrics = discriminator_update(state.generator, state.discriminator, x_real, y_real, k_discriminator,
                                                latent_mean, latent_scale, n_classes, policy, batch_sharding)
  generator, g_terms = generator_update(state.generator, discriminator, x_real, y_real, k_generator, latent_mean,
                                        latent_scale, n_classes, policy, batch_sharding, anchor)
  finite = jnp.isfinite(metrics["d_loss"]) & all_finite((g_terms, generator.params, discriminator.params))
  return GanState(generator=generator, discriminator=discriminator), {**metrics, **g_terms, "finite": finite}
