"""The pipeline's three training steps on synthetic data, jitted as training jits them, timed and costed.

The steps are the package's own `autoencoder_step`, `bagan_step` and `classifier_step`, jitted with
`parallel.jit_step` (state donated, batch split over the mesh, parameters replicated) and fed a
resident training set, so a benchmark times what `launch/train.py` runs per step, without the
in-step augmentation (classic transforms, DiffAugment), which the PyTorch peer does not mirror.
Parameter values do not change the time of a step, so the models are freshly initialised.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from clock import steady_state_seconds
from configs import default
from gancbam_jax import models
from gancbam_jax.detect.classifier import classifier_step
from gancbam_jax.train import parallel
from gancbam_jax.train.bagan import Anchor, GanState, bagan_step, fakes_per_batch
from gancbam_jax.train.pretrain import autoencoder_step
from gancbam_jax.train.settings import DTYPES
from gancbam_jax.train.state import adam, create_train_state

STEP_NAMES = ("autoencoder", "bagan", "classifier")
N_CLASSES = 2
ANCHOR_WEIGHT = default.get_train_config().gan_anchor_weight  # the step as the default config trains it
RESIDENT_BATCHES = 4  # the resident set holds this many batches, so drawing a batch is a real gather


@dataclasses.dataclass
class TrainingStep:
  """One jitted training step with its initial state and resident data: call `step(state, key, *data)`."""

  name: str
  step: Callable
  state: Any
  data: tuple
  images_per_step: int  # real training images one step consumes


@dataclasses.dataclass(frozen=True)
class StepTiming:
  """Compile time, steady-state seconds per step, and XLA's FLOP count of one step."""

  compile_s: float
  seconds_per_step: float
  flops_per_step: float | None
  steps_timed: int


def resident_set(image_size: int, batch_size: int, mesh, seed: int = 0) -> tuple[jax.Array, jax.Array]:
  """Random images in [0, 1] and labels (one anomaly in five), replicated on the mesh's devices."""
  rng = np.random.default_rng(seed)
  n = RESIDENT_BATCHES * batch_size
  images = rng.uniform(size=(n, image_size, image_size, 1)).astype(np.float32)
  labels = (rng.uniform(size=n) < 0.2).astype(np.int32)
  return parallel.replicate((jnp.asarray(images), jnp.asarray(labels)), mesh)


def training_steps(variant: str, image_size: int, batch_size: int, dtype: str, mesh,
                   names: tuple[str, ...] = STEP_NAMES) -> list[TrainingStep]:
  """The named steps at one image size, global batch size and compute dtype, jitted over `mesh`."""
  parallel.check_batch_divisible(batch_size, mesh, "batch size")
  autoencoder = models.build_autoencoder(variant, image_size, models.DEFAULT_LATENT_DIM, DTYPES[dtype])
  images, labels = resident_set(image_size, batch_size, mesh)
  keys = iter(jax.random.split(jax.random.key(0), 5))
  tx = adam(1e-4, 0.5)

  def state_of(model):
    return parallel.replicate(create_train_state(model, models.init_variables(model, next(keys)), tx), mesh)

  def autoencoder_training_step():
    return TrainingStep("autoencoder", parallel.jit_step(autoencoder_step, mesh, batch_size=batch_size),
                        state_of(autoencoder), (images, labels), batch_size)

  def bagan_training_step():
    latent_mean = jnp.zeros((N_CLASSES, models.DEFAULT_LATENT_DIM), jnp.float32)
    latent_scale = jnp.broadcast_to(jnp.eye(models.DEFAULT_LATENT_DIM, dtype=jnp.float32),
                                    (N_CLASSES, models.DEFAULT_LATENT_DIM, models.DEFAULT_LATENT_DIM))
    state = GanState(state_of(models.build_generator(autoencoder)),
                     state_of(models.build_discriminator(autoencoder, N_CLASSES)))
    # The resident slices stand for their own encoder latents: the anchor costs what it costs with real ones.
    latents = jax.random.normal(next(keys), (images.shape[0], models.DEFAULT_LATENT_DIM), jnp.float32)
    anchor = Anchor(parallel.replicate(latents, mesh), images, ANCHOR_WEIGHT)
    return TrainingStep("bagan", parallel.jit_step(bagan_step, mesh, batch_size=batch_size, n_classes=N_CLASSES),
                        state, (images, labels, *parallel.replicate((latent_mean, latent_scale), mesh), anchor),
                        batch_size)

  def classifier_training_step():
    class_weights = parallel.replicate(jnp.ones((N_CLASSES,), jnp.float32), mesh)
    return TrainingStep("classifier", parallel.jit_step(classifier_step, mesh, batch_size=batch_size),
                        state_of(models.build_classifier(autoencoder)), (images, labels, class_weights), batch_size)

  builders = {"autoencoder": autoencoder_training_step, "bagan": bagan_training_step,
              "classifier": classifier_training_step}
  unknown = set(names) - set(builders)
  if unknown:
    raise ValueError(f"unknown training steps {sorted(unknown)}; expected some of {STEP_NAMES}")
  return [builders[name]() for name in names]


def images_seen(step: TrainingStep, batch_size: int, devices: int = 1) -> str:
  """What one step processes over `devices`, in words, for reports."""
  if step.name == "bagan":
    fakes = fakes_per_batch(batch_size, N_CLASSES, devices)
    return (f"{batch_size} real images; D also sees {fakes} fakes, G generates {fakes} more and backpropagates "
            f"through D on them beside the real batch, and decodes {fakes} real slices' latents for its anchor")
  return f"{batch_size} real images"


def xla_flops(compiled) -> float | None:
  """FLOPs of one call of a compiled function by XLA's cost analysis; None where the backend gives none."""
  flops = (compiled.cost_analysis() or {}).get("flops")
  return float(flops) if flops and flops > 0 else None


def time_training_step(step: TrainingStep, min_seconds: float = 2.0, repeats: int = 3) -> StepTiming:
  """Compiles the step, then times it as `clock.steady_state_seconds` does; consumes `step.state` (donated).

  Keys are folded in per step as the training loop does; each run is timed until the state is ready.
  """
  key = jax.random.key(1)
  began = time.perf_counter()
  compiled = step.step.lower(step.state, key, *step.data).compile()
  compile_s = time.perf_counter() - began
  state, steps_taken = step.state, 0

  def run(count: int) -> float:
    nonlocal state, steps_taken
    began = time.perf_counter()
    for _ in range(count):
      state, metrics = compiled(state, jax.random.fold_in(key, steps_taken), *step.data)
      steps_taken += 1
    jax.block_until_ready((state, metrics))
    return time.perf_counter() - began

  _, seconds_per_step, steps_timed = steady_state_seconds(run, min_seconds, repeats)
  return StepTiming(compile_s, seconds_per_step, xla_flops(compiled), steps_timed)
