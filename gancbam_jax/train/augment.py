"""Stage 5: synthetic images of the under-represented classes until the training classes balance.

Images come from the trained generator in inference mode, conditioned on the class through its
latent Gaussian, and are clipped to [0, 1], the Min-Max range of the real training images. They
are for the training split only: evaluation never sees them. Alongside, the stage measures what
the review's mode-collapse warning asks for: per-class diversity (mean pairwise RMS distance among
images) of real and synthetic images, and each synthetic image's RMS distance to its nearest real
training image of the class (near zero would mean memorised anomalies).
"""

from __future__ import annotations

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from gancbam_jax.batching import map_in_batches
from gancbam_jax.models import as_slices
from gancbam_jax.train.gaussians import ClassGaussians, sample_latents
from gancbam_jax.train.state import TrainState

DIVERSITY_SAMPLE = 256  # images per class used for the pairwise statistics, bounding their cost


@dataclasses.dataclass(frozen=True)
class SyntheticImages:
  """Generated images (N, S, S, 1) in normalised units and their class indices (N,)."""

  images: np.ndarray
  labels: np.ndarray

  def save(self, path: pathlib.Path, class_names: tuple[str, ...], generator_step: int) -> None:
    """Writes an .npz (images, labels, class_names, generator_step) atomically."""
    partial = path.with_name(path.name + ".partial.npz")
    np.savez(partial, images=self.images, labels=self.labels, class_names=np.array(class_names),
             generator_step=np.int64(generator_step))
    partial.replace(path)

  @classmethod
  def load(cls, path: pathlib.Path) -> "SyntheticImages":
    with np.load(path, allow_pickle=False) as f:
      return cls(images=f["images"], labels=f["labels"])


def balancing_counts(labels: np.ndarray, n_classes: int) -> np.ndarray:
  """Synthetic images each class needs to match the largest class (0 for the largest)."""
  counts = np.bincount(labels, minlength=n_classes)
  return counts.max() - counts


def generate_class_images(generator: TrainState, gaussians: ClassGaussians, key: jax.Array, counts: np.ndarray,
                          batch_size: int, image_shape: tuple[int, ...]) -> SyntheticImages:
  """`counts[c]` images of each class c from the generator (inference mode), clipped to [0, 1]."""
  return generate_draws(generator, gaussians, [key], counts, batch_size, image_shape)[0]


def generate_draws(generator: TrainState, gaussians: ClassGaussians, keys, counts: np.ndarray, batch_size: int,
                   image_shape: tuple[int, ...]) -> list[SyntheticImages]:
  """One `generate_class_images` draw per key of `keys` (a list or a split key array), one compiled generator."""
  labels = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
  if not len(labels):
    return [SyntheticImages(images=np.zeros((0, *image_shape), np.float32), labels=labels) for _ in keys]
  mean, scale, classes = jnp.asarray(gaussians.mean), jnp.asarray(gaussians.scale), jnp.asarray(labels)
  generate = jax.jit(lambda z: as_slices(generator.apply_fn(generator.variables, z, train=False)))

  def draw(key: jax.Array) -> SyntheticImages:
    latents = np.asarray(sample_latents(key, mean, scale, classes))
    return SyntheticImages(images=map_in_batches(generate, latents, batch_size).astype(np.float32), labels=labels)

  return [draw(key) for key in keys]


def _rms_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """RMS pixel distance between every image of `a` and every image of `b`: (len(a), len(b))."""
  a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
  squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
  return np.sqrt(np.maximum(squared, 0.0) / a.shape[1])


def _mean_pairwise(images: np.ndarray) -> float | None:
  if len(images) < 2:
    return None
  d = _rms_distances(images, images)
  return float(d[np.triu_indices(len(images), 1)].mean())


def diversity_report(real_images: np.ndarray, real_labels: np.ndarray, synthetic: SyntheticImages,
                     class_names: tuple[str, ...], seed: int = 0) -> dict:
  """Per class: real and synthetic diversity, nearest-real distances of synthetic images (see module doc)."""
  rng = np.random.default_rng(seed)
  subsample = lambda x: x[rng.choice(len(x), DIVERSITY_SAMPLE, replace=False)] if len(x) > DIVERSITY_SAMPLE else x
  report = {}
  for c, name in enumerate(class_names):
    real = subsample(real_images[real_labels == c])
    fake = subsample(synthetic.images[synthetic.labels == c])
    entry = {"real": int((real_labels == c).sum()), "synthetic": int((synthetic.labels == c).sum()),
             "real_mean_pairwise_rms": _mean_pairwise(real), "synthetic_mean_pairwise_rms": _mean_pairwise(fake)}
    if len(fake) and len(real):
      nearest = _rms_distances(fake, real).min(axis=1)
      entry.update(synthetic_nearest_real_rms_mean=float(nearest.mean()),
                   synthetic_nearest_real_rms_min=float(nearest.min()))
    if len(real) > 1:
      among_real = _rms_distances(real, real) + np.diag(np.full(len(real), np.inf))
      entry["real_nearest_other_real_rms_mean"] = float(among_real.min(axis=1).mean())
    report[name] = entry
  return report
