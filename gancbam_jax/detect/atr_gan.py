"""The ATR-GAN baseline (Li et al. 2022) as a small image version (METHOD.md §6).

1. A DCGAN learns the minority (anomalous) training slices only: G and D of this package's
   architecture freshly initialised (no autoencoder transfer and no class Gaussians: that is what
   BAGAN adds), z ~ N(0, I), the real-vs-fake loss (BAGAN's step with one class) and bootstrap
   mini-batches drawn with replacement, ATR-GAN's "batching", so a handful of anomalies fills a batch.
2. A filter layer embeds candidates with the frozen pretrained encoder and keeps a candidate when
   its distance to the nearest real anomaly lies between the 5th and 95th percentiles of the
   leave-one-out nearest-neighbour distances among the real anomalies: farther is a poor sample,
   nearer a memorised one.
3. The classifier of the primary detector learns from the real training slices plus the kept
   candidates, until the classes balance (configs/compare.py runs it without CBAM, as the paper's
   baseline has none).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gancbam_jax import models
from gancbam_jax.batching import map_in_batches
from gancbam_jax.train import parallel
from gancbam_jax.train.augment import (SyntheticImages, balancing_counts, diversity_report, generate_class_images,
                                      generate_draws)
from gancbam_jax.train.bagan import GanState, bagan_step
from gancbam_jax.train.gaussians import ClassGaussians
from gancbam_jax.train.loop import StageSchedule
from gancbam_jax.train.pipeline import Run, TrainingSet
from gancbam_jax.train.sample_quality import QUALITY_DRAWS, generated_quality
from gancbam_jax.train.settings import ConfigError
from gancbam_jax.train.state import TrainState, adam, create_train_state

STAGE = "atr_gan_dcgan"
FILTER_PERCENTILES = (5.0, 95.0)
# Candidates are generated in rounds of twice the shortfall until enough pass the filter; a
# generator whose samples keep failing it stops after this many rounds with what it has.
MAX_GENERATION_ROUNDS = 10


def minority_set(run: Run) -> TrainingSet:
  """The anomalous training (and validation) slices, as the one class of the DCGAN."""
  anomalous = run.data.dataset.anomalous_index
  images = run.data.train_images[run.data.train_labels == anomalous]
  if len(images) < 2:
    raise ConfigError(f"config field data.split.imbalance_u: ATR-GAN needs at least 2 anomalous training slices (its "
                      f"filter compares each real anomaly with the others), the training split has {len(images)}; "
                      "raise data.split.imbalance_u or use more data")
  return TrainingSet.on_devices(run.mesh, images, np.zeros(len(images), np.int32), ("anomalous",),
                                run.data.val_images[run.data.val_labels == anomalous])


def standard_normal(latent_dim: int) -> ClassGaussians:
  """DCGAN's prior N(0, I) in the form the generator's sampler takes (one class)."""
  eye = np.eye(latent_dim, dtype=np.float32)[None]
  return ClassGaussians(mean=np.zeros((1, latent_dim), np.float32), covariance=eye, scale=eye)


def train_dcgan(run: Run, minority: TrainingSet) -> GanState:
  """Trains (or restores) the DCGAN of the minority slices for detect.atr_gan_steps bootstrap steps."""
  cfg = run.config
  generator = models.build_generator(run.autoencoder)
  discriminator = models.build_discriminator(run.autoencoder, 1, cfg.model.discriminator_dropout)
  tx = adam(cfg.train.gan_learning_rate, cfg.train.gan_beta1)
  state = parallel.replicate(GanState(
      create_train_state(generator, models.init_variables(generator, run.key(f"{STAGE}-generator-init")), tx),
      create_train_state(discriminator, models.init_variables(discriminator, run.key(f"{STAGE}-discriminator-init")),
                         tx)), run.mesh)
  stage, key = run.stage(STAGE), run.key(STAGE)
  start, state, key = stage.resume(state, key)
  prior = standard_normal(cfg.model.latent_dim)
  mean, scale = parallel.replicate((jnp.asarray(prior.mean), jnp.asarray(prior.scale)), run.mesh)
  step = run.jit_step(bagan_step, batch_size=cfg.train.batch_size, n_classes=1, bootstrap=True)
  state, report = stage.run(state, key, lambda s, k: step(s, k, minority.images, minority.labels, mean, scale),
                            StageSchedule(cfg.detect.atr_gan_steps, cfg.train.log_every, cfg.train.checkpoint_every),
                            start)
  stage.checkpoints.close()
  run.announce(report.line())
  return state


def _pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
  return np.sqrt(np.maximum(squared, 0.0))


def acceptance_band(real: np.ndarray, percentiles: tuple[float, float] = FILTER_PERCENTILES) -> tuple[float, float]:
  """Percentiles of each real embedding's distance to its nearest other real embedding (leave-one-out)."""
  distances = _pairwise_distances(real, real) + np.diag(np.full(len(real), np.inf))
  low, high = np.percentile(distances.min(axis=1), percentiles)
  return float(low), float(high)


def passes_filter(candidates: np.ndarray, real: np.ndarray, band: tuple[float, float]) -> np.ndarray:
  """Whether each candidate's nearest-real distance lies within the acceptance band."""
  nearest = _pairwise_distances(candidates, real).min(axis=1)
  return (nearest >= band[0]) & (nearest <= band[1])


def filtered_synthetic(run: Run, generator: TrainState, autoencoder: TrainState,
                       minority: TrainingSet) -> tuple[SyntheticImages, dict]:
  """Generated anomalies that pass the filter, as many as balance the classes (or fewer); and the filter's account."""
  data, batch_size = run.data, run.config.train.batch_size
  anomalous = data.dataset.anomalous_index
  needed = int(balancing_counts(data.train_labels, run.n_classes)[anomalous])
  encode = jax.jit(lambda x: autoencoder.apply_fn(autoencoder.variables, x, train=False, method="encode"))
  real = map_in_batches(encode, np.asarray(minority.images), batch_size)
  band = acceptance_band(real)
  prior = standard_normal(run.config.model.latent_dim)
  kept, generated = [], 0
  for round_ in range(MAX_GENERATION_ROUNDS):
    shortfall = needed - sum(len(k) for k in kept)
    if shortfall <= 0:
      break
    candidates = generate_class_images(generator, prior, jax.random.fold_in(run.key("atr-gan-candidates"), round_),
                                       np.array([2 * shortfall]), batch_size, data.image_shape).images
    generated += len(candidates)
    kept.append(candidates[passes_filter(map_in_batches(encode, candidates, batch_size), real, band)])
  images = np.concatenate(kept)[:needed] if kept else np.zeros((0, *data.image_shape), np.float32)
  synthetic = SyntheticImages(images=images, labels=np.full(len(images), anomalous, np.int32))
  # The DCGAN's samples before the filter, as many as there are real minority slices, against them.
  minority_labels = np.zeros(len(real), np.int32)
  matched = generate_draws(generator, prior, jax.random.split(run.key("quality"), QUALITY_DRAWS), np.array([len(real)]),
                           batch_size, data.image_shape)
  account = {"filter": {"candidates": generated, "kept": len(images), "needed": needed,
                        "nearest_real_band": list(band), "percentiles": list(FILTER_PERCENTILES)},
             "per_class": diversity_report(data.train_images, data.train_labels, synthetic, data.class_names,
                                           seed=run.config.seed),
             "quality": generated_quality(np.asarray(minority.images), minority_labels,
                                          [(draw.images, minority_labels) for draw in matched],
                                          (data.class_names[anomalous],), seed=run.config.seed)}
  run.announce(f"ATR-GAN filter: kept {len(images)} of {generated} candidates ({needed} needed to balance)")
  return synthetic, account
