"""Models of normal slices only, for the reconstruction and f-AnoGAN detectors (METHOD.md §4c, §4d).

Neither model sees an anomalous slice in training: they learn what normal looks like, and a slice
they cannot reproduce scores high.
- `train_normal_autoencoder`: the configured (CBAM) autoencoder trained on normal slices with the
  same step, budget and learning rate as the main autoencoder.
- `train_izif_encoder`: f-AnoGAN's izi_f encoder (Schlegl et al. 2019). A BAGAN with the single
  class "normal" is trained from that autoencoder; with G and D frozen, an encoder E' (initialised
  from the autoencoder's encoder) minimises ||x - G(E'(x))||^2 / P + k ||f_D(x) - f_D(G(E'(x)))||^2 / F,
  with P pixels, F = 512 trunk features of D, and k = detect.fanogan_feature_weight.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding

from gancbam_jax import models
from gancbam_jax.batching import map_in_batches
from gancbam_jax.train import parallel
from gancbam_jax.train.batches import draw_batch
from gancbam_jax.train.loop import StageSchedule
from gancbam_jax.train.pipeline import Run, pretrain_autoencoder, train_bagan
from gancbam_jax.train.state import TrainState, adam, all_finite, create_train_state

AUTOENCODER_STAGE = "normal_autoencoder"
GAN_STAGE = "normal_bagan"
ENCODER_STAGE = "izif_encoder"


class FAnoGanModels(NamedTuple):
  """The modules of f-AnoGAN scoring; static (hashable) so jitted functions can take them as arguments."""

  encoder: models.Encoder
  generator: models.Decoder
  discriminator: models.ImageClassifier


def train_normal_autoencoder(run: Run) -> TrainState:
  """The autoencoder of normal training slices (reconstruction detector and f-AnoGAN's starting point)."""
  state, report = pretrain_autoencoder(run, run.normal_set, AUTOENCODER_STAGE)
  run.announce(report.line())
  return state


def izif_residuals(fanogan: FAnoGanModels, variables: dict, images: jax.Array, feature_weight: float,
                   encoder_train: bool = False):
  """Per-image izi_f score (N,), squared residual maps (N, S, S) and, in training mode, E's batch statistics."""
  if encoder_train:
    z, updates = fanogan.encoder.apply(variables["encoder"], images, train=True, mutable=["batch_stats"])
  else:
    z, updates = fanogan.encoder.apply(variables["encoder"], images, train=False), None
  reconstructions = fanogan.generator.apply(variables["generator"], z, train=False)
  features = functools.partial(fanogan.discriminator.apply, variables["discriminator"], train=False,
                               method="features")
  residual = jnp.square(images - reconstructions).mean(axis=-1)
  feature_residual = jnp.mean(jnp.square(features(images) - features(reconstructions)), axis=-1)
  return jnp.mean(residual, axis=(1, 2)) + feature_weight * feature_residual, residual, updates


def izif_step(state: TrainState, key: jax.Array, images: jax.Array, labels: jax.Array, frozen: dict, *,
              fanogan: FAnoGanModels, feature_weight: float, batch_size: int,
              batch_sharding: NamedSharding | None = None) -> tuple[TrainState, dict]:
  """One Adam step of E' on the izi_f loss; G and D (in `frozen`) get no gradient."""
  x, _ = draw_batch(key, images, labels, batch_size, batch_sharding)

  def loss_fn(params):
    variables = {"encoder": {"params": params, "batch_stats": state.batch_stats}, **frozen}
    scores, _, updates = izif_residuals(fanogan, variables, x, feature_weight, encoder_train=True)
    return scores.mean(), updates

  (loss, updates), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  state = state.apply_gradients(grads=grads, batch_stats=updates["batch_stats"])
  return state, {"loss": loss, "finite": jnp.isfinite(loss) & all_finite(state.params)}


def fanogan_models(run: Run) -> FAnoGanModels:
  ae = run.autoencoder
  return FAnoGanModels(models.Encoder(ae.variant, ae.image_size, ae.latent_dim, dtype=ae.dtype, channels=ae.channels),
                       models.build_generator(ae), models.build_discriminator(ae, 1))


def train_izif_encoder(run: Run, normal_autoencoder: TrainState) -> tuple[dict, FAnoGanModels]:
  """Trains (or restores) the normal BAGAN and then E'; returns the scoring variables and modules."""
  normal_set = run.normal_set
  gan, _, report = train_bagan(run, normal_autoencoder, normal_set, GAN_STAGE)
  run.announce(report.line())
  fanogan = fanogan_models(run)
  frozen = {"generator": gan.generator.variables, "discriminator": gan.discriminator.variables}
  variables = {"params": normal_autoencoder.params["encoder"], "batch_stats": normal_autoencoder.batch_stats["encoder"]}
  cfg, train_cfg = run.config.detect, run.config.train
  state = parallel.replicate(create_train_state(fanogan.encoder, variables,
                                                adam(train_cfg.ae_learning_rate, train_cfg.ae_beta1)), run.mesh)
  stage, key = run.stage(ENCODER_STAGE), run.key(ENCODER_STAGE)
  start, state, key = stage.resume(state, key)
  step = run.jit_step(izif_step, fanogan=fanogan, feature_weight=cfg.fanogan_feature_weight,
                      batch_size=train_cfg.batch_size)
  score = jax.jit(lambda v, x: izif_residuals(fanogan, v, x, cfg.fanogan_feature_weight)[0])

  def validation_loss(_, current):
    variables = {"encoder": current.variables, **frozen}
    return {"val_loss": float(np.mean(map_in_batches(functools.partial(score, variables), normal_set.val_images,
                                                     train_cfg.batch_size)))}

  state, report = stage.run(state, key, lambda s, k: step(s, k, normal_set.images, normal_set.labels, frozen),
                            StageSchedule(cfg.encoder_steps, train_cfg.log_every, train_cfg.checkpoint_every),
                            start, on_log=validation_loss)
  stage.checkpoints.close()
  run.announce(report.line())
  return {"encoder": state.variables, **frozen}, fanogan
