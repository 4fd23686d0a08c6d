"""PCA features of CT slices: the input of the classic (shallow) anomaly detectors, and their heatmap.

The principal components are fitted on normal training slices only, so the features describe
how a slice varies the way normal slices do; each feature is divided by its standard deviation
over those slices, so that a detector with one length scale (an RBF kernel, a random split
range) sees every component on the same footing. The heatmap of a feature detector is what
its features see: the slice's deviation from the mean normal slice, projected onto the
components and back into pixels.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

MIN_FEATURE_SCALE = 1e-6  # floor of a feature's standard deviation: a constant component must not divide by 0
# Full float32 matmuls: on GPUs the default (TF32) would move features by ~1e-3, far more than the
# split thresholds and kernel widths the shallow detectors were fitted with can tolerate.
PRECISION = jax.lax.Precision.HIGHEST
DEVIATION_HEATMAP = "deviation from the mean normal slice within the PCA subspace the features see"


def fit_pca(images: np.ndarray, n_components: int) -> dict[str, np.ndarray]:
  """Principal components of normal slices: {'mean' (P,), 'components' (k, P), 'scale' (k,)}, P = S * S * C.

  Args:
    images: (N, S, S, C) normal training slices normalised to [0, 1].
    n_components: the number of components wanted; k = min(n_components, N - 1, P), since N
      centred slices span at most N - 1 directions.

  Raises:
    ValueError: n_components < 1, or fewer than 2 slices.
  """
  if n_components < 1:
    raise ValueError(f"detect.pca_components must be at least 1, got {n_components}")
  if len(images) < 2:
    raise ValueError(f"PCA needs at least 2 normal training slices, got {len(images)}")
  pixels = np.asarray(images, np.float64).reshape(len(images), -1)
  mean = pixels.mean(axis=0)
  _, singular_values, vt = np.linalg.svd(pixels - mean, full_matrices=False)
  k = min(n_components, len(images) - 1, pixels.shape[1])
  # The projections of the centred slices onto component i are u_i * s_i, whose standard deviation is s_i / sqrt(N).
  scale = np.maximum(singular_values[:k] / np.sqrt(len(images)), MIN_FEATURE_SCALE)
  return {"mean": mean.astype(np.float32), "components": vt[:k].astype(np.float32), "scale": scale.astype(np.float32)}


def _centred_coordinates(pca, images: jax.Array) -> jax.Array:
  """(N, k) coordinates of the slices' deviation from the mean normal slice along the components."""
  pixels = jnp.reshape(images, (images.shape[0], -1)).astype(jnp.float32)
  return jnp.matmul(pixels - pca["mean"], pca["components"].T, precision=PRECISION)


def project(pca, images: jax.Array) -> jax.Array:
  """(N, k) standardised PCA features of (N, S, S, 1) slices."""
  return _centred_coordinates(pca, images) / pca["scale"]


def deviation_map(pca, images: jax.Array) -> jax.Array:
  """(N, S, S) |deviation of each slice from the mean normal slice, within the PCA subspace|."""
  deviation = jnp.matmul(_centred_coordinates(pca, images), pca["components"], precision=PRECISION)
  return jnp.abs(jnp.reshape(deviation, images.shape)).max(axis=-1)  # the most deviant HU window at each pixel
