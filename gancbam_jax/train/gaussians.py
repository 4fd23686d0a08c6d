"""BAGAN's class-conditional latent distributions N(mu_c, Sigma_c), fitted on encoder outputs.

Sigma_c is the unbiased covariance of class c's latents plus a ridge of `ridge * trace / d`
(METHOD.md §3), floored so that it is positive definite even when every latent of a class is
the same. With fewer images than latent dimensions the sample covariance is singular; the
ridge makes it invertible, and sampling goes through a symmetric square root from the SVD
(A A^T = Sigma_c), which stays finite where a Cholesky factor would return NaN. The square root
is computed once, at fit time, so sampling a batch is one matrix product.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

DEFAULT_RIDGE = 1e-4
MIN_VARIANCE = 1e-6  # floor of the ridge: keeps Sigma_c positive definite for constant latents


@dataclasses.dataclass(frozen=True)
class ClassGaussians:
  """Per-class latent mean (n_classes, d), covariance and its SVD square root (n_classes, d, d)."""

  mean: np.ndarray
  covariance: np.ndarray
  scale: np.ndarray

  @property
  def n_classes(self) -> int:
    return self.mean.shape[0]

  def to_dict(self) -> dict[str, np.ndarray]:
    return {"mean": self.mean, "covariance": self.covariance, "scale": self.scale}

  @classmethod
  def from_dict(cls, d) -> "ClassGaussians":
    return cls(**{k: np.asarray(d[k], np.float32) for k in ("mean", "covariance", "scale")})


def _svd_square_root(covariance: np.ndarray) -> np.ndarray:
  """A with A A^T = covariance, from the SVD (exact for symmetric positive semi-definite input)."""
  u, s, _ = np.linalg.svd(covariance, hermitian=True)
  return (u * np.sqrt(np.maximum(s, 0.0))).astype(np.float32)


def fit_class_gaussians(latents: np.ndarray, labels: np.ndarray, n_classes: int, ridge: float = DEFAULT_RIDGE,
                        class_names: tuple[str, ...] | None = None) -> ClassGaussians:
  """Fits N(mu_c, Sigma_c) to the latents of each class c in 0..n_classes-1.

  Args:
    latents: (N, d) encoder outputs in inference mode.
    labels: (N,) class indices.
    n_classes: number of classes; each must have at least one latent.
    ridge: Sigma_c += ridge * trace(Sigma_c) / d * I.
    class_names: for error messages.

  Raises:
    ValueError: a class has no latents, or the latents are not finite.
  """
  latents = np.asarray(latents, np.float64)
  labels = np.asarray(labels)
  if not np.all(np.isfinite(latents)):
    raise ValueError("encoder outputs contain NaN or Inf; the autoencoder diverged, so the class Gaussians "
                     "cannot be fitted (lower train.ae_learning_rate)")
  d = latents.shape[1]
  means, covariances = [], []
  for c in range(n_classes):
    z = latents[labels == c]
    if len(z) == 0:
      name = class_names[c] if class_names else str(c)
      raise ValueError(f"class {name!r} has no training images: its latent Gaussian cannot be fitted")
    # One image has no spread to estimate; the ridge floor alone then defines Sigma_c.
    covariance = np.cov(z, rowvar=False, ddof=1) if len(z) > 1 else np.zeros((d, d))
    covariance = covariance + max(ridge * np.trace(covariance) / d, MIN_VARIANCE) * np.eye(d)
    means.append(z.mean(axis=0))
    covariances.append(covariance)
  covariance = np.stack(covariances)
  return ClassGaussians(mean=np.stack(means).astype(np.float32), covariance=covariance.astype(np.float32),
                        scale=np.stack([_svd_square_root(c) for c in covariance]))


def sample_latents(key: jax.Array, mean: jax.Array, scale: jax.Array, classes: jax.Array) -> jax.Array:
  """z ~ N(mean[c], scale[c] scale[c]^T) for each class index c in `classes` (jit-friendly)."""
  noise = jax.random.normal(key, (classes.shape[0], mean.shape[1]), jnp.float32)
  return mean[classes] + jnp.einsum("nij,nj->ni", scale[classes], noise)
