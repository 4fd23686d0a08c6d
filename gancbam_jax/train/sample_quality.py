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
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

FEATURE_SEED = 0
FEATURE_CHANNELS = (16, 32, 64)
C2ST_FOLDS = 5
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
  entry = {"real": len(real_images), "synthetic": len(synthetic_images), "c2st_roc_auc": None,
           "frechet_distance": None, "frechet_distance_real_halves": None}
  if min(len(real_images), len(synthetic_images)) < MIN_SLICES:
    return entry
  real, synthetic = slice_features(real_images), slice_features(synthetic_images)
  entry["c2st_roc_auc"] = two_sample_test(real, synthetic, seed)
  entry["frechet_distance"] = frechet_distance(real, synthetic)
  if len(real) >= 2 * MIN_SLICES:
    halves = np.array_split(np.random.default_rng(seed).permutation(len(real)), 2)
    entry["frechet_distance_real_halves"] = frechet_distance(real[halves[0]], real[halves[1]])
  return entry


def generated_quality(real_images: np.ndarray, real_labels: np.ndarray, synthetic_images: np.ndarray,
                      synthetic_labels: np.ndarray, class_names: tuple[str, ...], seed: int = 0) -> dict:
  """`compare_samples` over all classes together and per class, real training slices against synthetic ones.

  The pooled test is the one with enough slices on small data (the rare class may hold three).
  """
  per_class = {name: compare_samples(real_images[real_labels == c], synthetic_images[synthetic_labels == c], seed)
               for c, name in enumerate(class_names)}
  return {"feature_space": f"fixed random-init conv net (seed {FEATURE_SEED}; channels {FEATURE_CHANNELS}; "
                           "per-channel mean and std)",
          "all_classes": compare_samples(real_images, synthetic_images, seed), "per_class": per_class}
