"""How far generated slices are from real ones, with no outside weights: a two-sample test and a Fréchet distance.

Both work in one stated, fixed feature space: a small convolutional network with random weights
drawn from a fixed seed (`FEATURE_SEED`), three 3x3 stride-2 ReLU convolutions of 16, 32 and 64
channels, whose per-channel spatial mean and standard deviation at each depth give 224 features.
Random convolutional features keep what a pixel-space comparison misses (texture, sharpness,
edges) and, unlike Inception features, need no download and mean the same for every run, method
and dataset of this project.

- Classifier two-sample test (C2ST; Lopez-Paz & Oquab 2017): a logistic regression on the
  standardised features learns to tell real from synthetic slices, and its ROC-AUC on held-out
  folds (stratified k-fold, every slice scored once by a model that did not see it) is the
  result. 0.5: the classifier cannot tell them apart; 1.0: every synthetic slice is recognised.
  Noise or blur gives 1.0, so neither can pass for success.
- Fréchet distance between Gaussians fitted to the real and synthetic features (the FID formula
  in this feature space), beside the same distance between two random halves of the real slices:
  the floor that the sample size alone gives.

`generated_quality` averages both over several synthetic draws (`QUALITY_DRAWS` per run), each
held out by its own folds. With a few tens of slices per side one draw is a noisy reading: on
siim-ct-dev (u = 0.2, 18-21 real training slices) five draws of one trained generator read from
0.75 to 0.985 in one fold (docs/training.md).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

FEATURE_SEED = 0
FEATURE_CHANNELS = (16, 32, 64)
C2ST_FOLDS = 5
QUALITY_DRAWS = 5  # synthetic sets per run whose C2ST and Fréchet distance are averaged
MIN_SLICES = 4  # per side: fewer leave a held-out fold without one of them


class RandomFeatures(nn.Module):
  """Images (N, S, S, C) -> (N, 2 * sum(FEATURE_CHANNELS)): per-channel mean and std after each conv."""

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    x, pooled = images, []
    for channels in FEATURE_CHANNELS:
      x = nn.relu(nn.Conv(channels, (3, 3), strides=(2, 2), padding="SAME")(x))
      pooled += [jnp.mean(x, axis=(1, 2)), jnp.std(x, axis=(1, 2))]
    return jnp.concatenate(pooled, axis=-1)


@functools.lru_cache(maxsize=None)
def _feature_function(channels: int):
  model = RandomFeatures()
  # One fixed draw per channel count: the same features in every run.
  params = model.init(jax.random.key(FEATURE_SEED), jnp.zeros((1, 16, 16, channels), jnp.float32))
  return jax.jit(functools.partial(model.apply, params))


def slice_features(images: np.ndarray, batch_size: int = 64) -> np.ndarray:
  """The fixed random-network features (N, 224) of normalised slices (N, S, S, C), float64."""
  if not len(images):
    return np.zeros((0, 2 * sum(FEATURE_CHANNELS)))
  extract = _feature_function(images.shape[-1])
  chunks = [np.asarray(extract(jnp.asarray(images[i:i + batch_size], jnp.float32)))
            for i in range(0, len(images), batch_size)]
  return np.concatenate(chunks).astype(np.float64)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
  """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of two feature sets (N, D)."""
  mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
  cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  # tr (S_a S_b)^(1/2) = sum of sqrt(eigenvalues of S_a^(1/2) S_b S_a^(1/2)), a symmetric PSD matrix:
  # stable when few slices leave both covariances singular, where a general matrix root is not.
  root_a = _psd_square_root(cov_a)
  product = np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0.0, None)
  trace = np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.sum(np.sqrt(product))
  return float(np.sum(np.square(mean_a - mean_b)) + max(trace, 0.0))


def _psd_square_root(matrix: np.ndarray) -> np.ndarray:
  values, vectors = np.linalg.eigh(matrix)
  return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def two_sample_test(real: np.ndarray, synthetic: np.ndarray, seed: int = 0) -> float:
  """Held-out ROC-AUC of a logistic regression telling real (N, D) from synthetic (M, D) features.

  Raises:
    ValueError: either side has fewer than MIN_SLICES rows.
  """
  from sklearn.linear_model import LogisticRegression
  from sklearn.metrics import roc_auc_score
  from sklearn.model_selection import StratifiedKFold, cross_val_predict
  from sklearn.pipeline import make_pipeline
  from sklearn.preprocessing import StandardScaler

  if min(len(real), len(synthetic)) < MIN_SLICES:
    raise ValueError(f"a two-sample test needs at least {MIN_SLICES} slices per side, got {len(real)} real "
                     f"and {len(synthetic)} synthetic")
  features = np.concatenate([real, synthetic])
  is_synthetic = np.concatenate([np.zeros(len(real)), np.ones(len(synthetic))])
  folds = StratifiedKFold(min(C2ST_FOLDS, len(real), len(synthetic)), shuffle=True, random_state=seed)
  classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
  scores = cross_val_predict(classifier, features, is_synthetic, cv=folds, method="predict_proba")[:, 1]
  return float(roc_auc_score(is_synthetic, scores))


def compare_samples(real_images: np.ndarray, synthetic_images: np.ndarray, seed: int = 0) -> dict:
  """C2ST ROC-AUC, Fréchet distance and its real-halves floor for two image sets; None where too few slices."""
  return _compare_features(slice_features(real_images), slice_features(synthetic_images), seed)


def _compare_features(real: np.ndarray, synthetic: np.ndarray, seed: int) -> dict:
  """`compare_samples` on the features (N, D) and (M, D) of two image sets."""
  entry = {"real": len(real), "synthetic": len(synthetic), "c2st_roc_auc": None,
           "frechet_distance": None, "frechet_distance_real_halves": None}
  if min(len(real), len(synthetic)) < MIN_SLICES:
    return entry
  entry["c2st_roc_auc"] = two_sample_test(real, synthetic, seed)
  entry["frechet_distance"] = frechet_distance(real, synthetic)
  if len(real) >= 2 * MIN_SLICES:
    halves = np.array_split(np.random.default_rng(seed).permutation(len(real)), 2)
    entry["frechet_distance_real_halves"] = frechet_distance(real[halves[0]], real[halves[1]])
  return entry


def _mean_over_draws(entries: list[dict]) -> dict:
  """`compare_samples` entries of the same real slices against several synthetic draws: each figure averaged over
  the draws (None where too few slices gave none), with the C2ST of every draw and their standard deviation."""
  summary = {"real": entries[0]["real"], "synthetic": entries[0]["synthetic"], "draws": len(entries)}
  for key in ("c2st_roc_auc", "frechet_distance", "frechet_distance_real_halves"):
    values = [entry[key] for entry in entries]
    summary[key] = None if None in values else float(np.mean(values))
  aucs = [entry["c2st_roc_auc"] for entry in entries]
  summary["c2st_roc_auc_per_draw"] = None if None in aucs else aucs
  summary["c2st_roc_auc_sd"] = None if None in aucs or len(aucs) < 2 else float(np.std(aucs, ddof=1))
  return summary


def generated_quality(real_images: np.ndarray, real_labels: np.ndarray,
                      synthetic_draws: Sequence[tuple[np.ndarray, np.ndarray]], class_names: tuple[str, ...],
                      seed: int = 0) -> dict:
  """`compare_samples` over all classes together and per class, real training slices against each draw of
  (synthetic images, labels), averaged over the draws (`_mean_over_draws`); draw r's folds are seeded seed + r.

  The pooled test is the one with enough slices on small data (the rare class may hold three).
  """
  if not synthetic_draws:
    raise ValueError("the quality of generated slices needs at least one synthetic draw")

  # Each slice's features once: every draw is compared over all classes and per class.
  real_features = slice_features(real_images)
  draw_features = [(slice_features(images), labels) for images, labels in synthetic_draws]

  def over_draws(c: int | None) -> dict:
    """Class c's real and synthetic slices, or all of them for None."""
    real = real_features if c is None else real_features[real_labels == c]
    return _mean_over_draws([_compare_features(real, features if c is None else features[labels == c], seed + r)
                             for r, (features, labels) in enumerate(draw_features)])

  return {"feature_space": f"fixed random-init conv net (seed {FEATURE_SEED}; channels {FEATURE_CHANNELS}; "
                           "per-channel mean and std)",
          "all_classes": over_draws(None), "per_class": {name: over_draws(c) for c, name in enumerate(class_names)}}
