"""Class-conditional latent Gaussians: fitting, ridge, SVD sampling without NaN."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancbam_jax.train.gaussians import MIN_VARIANCE, ClassGaussians, fit_class_gaussians, sample_latents


def _latents(rng, n, d, shift):
  return rng.normal(size=(n, d)) * np.linspace(0.5, 2.0, d) + shift


def test_fit_matches_class_mean_and_covariance_plus_ridge():
  rng = np.random.default_rng(0)
  z = np.concatenate([_latents(rng, 300, 4, 0.0), _latents(rng, 200, 4, 3.0)])
  labels = np.repeat([0, 1], [300, 200])
  fitted = fit_class_gaussians(z, labels, 2, ridge=0.1)
  for c in range(2):
    zc = z[labels == c]
    sample_cov = np.cov(zc, rowvar=False)
    np.testing.assert_allclose(fitted.mean[c], zc.mean(0), rtol=1e-5)
    expected = sample_cov + 0.1 * np.trace(sample_cov) / 4 * np.eye(4)
    np.testing.assert_allclose(fitted.covariance[c], expected, rtol=1e-5)
    np.testing.assert_allclose(fitted.scale[c] @ fitted.scale[c].T, expected, rtol=1e-4, atol=1e-6)


def test_samples_follow_the_fitted_distribution():
  rng = np.random.default_rng(1)
  z = np.concatenate([_latents(rng, 400, 3, -2.0), _latents(rng, 400, 3, 2.0)])
  fitted = fit_class_gaussians(z, np.repeat([0, 1], 400), 2)
  classes = jnp.asarray(np.repeat([0, 1], 20000).astype(np.int32))
  samples = np.asarray(sample_latents(jax.random.key(0), jnp.asarray(fitted.mean), jnp.asarray(fitted.scale), classes))
  for c in range(2):
    drawn = samples[np.asarray(classes) == c]
    np.testing.assert_allclose(drawn.mean(0), fitted.mean[c], atol=0.05)
    np.testing.assert_allclose(np.cov(drawn, rowvar=False), fitted.covariance[c], atol=0.1)


@pytest.mark.parametrize("per_class", [1, 2, 10])
def test_fewer_images_than_latent_dimensions_sample_without_nan(per_class):
  d = 100
  rng = np.random.default_rng(2)
  z = rng.normal(size=(2 * per_class, d)).astype(np.float32)
  fitted = fit_class_gaussians(z, np.repeat([0, 1], per_class), 2)
  assert np.all(np.linalg.eigvalsh(fitted.covariance.astype(np.float64)) > 0)
  samples = sample_latents(jax.random.key(3), jnp.asarray(fitted.mean), jnp.asarray(fitted.scale),
                           jnp.asarray(np.arange(512) % 2, jnp.int32))
  assert np.all(np.isfinite(np.asarray(samples)))


def test_identical_latents_get_the_variance_floor():
  z = np.ones((5, 8))
  fitted = fit_class_gaussians(np.concatenate([z, -z]), np.repeat([0, 1], 5), 2)
  np.testing.assert_allclose(fitted.covariance[0], MIN_VARIANCE * np.eye(8), rtol=1e-5)


def test_empty_class_is_named():
  with pytest.raises(ValueError, match="'anomalous' has no training images"):
    fit_class_gaussians(np.zeros((4, 3)), np.zeros(4, int), 2, class_names=("normal", "anomalous"))


def test_non_finite_latents_are_refused():
  z = np.zeros((4, 3))
  z[1, 2] = np.nan
  with pytest.raises(ValueError, match="NaN or Inf"):
    fit_class_gaussians(z, np.array([0, 0, 1, 1]), 2)


def test_round_trip_through_a_dict():
  fitted = fit_class_gaussians(np.random.default_rng(4).normal(size=(10, 3)), np.repeat([0, 1], 5), 2)
  restored = ClassGaussians.from_dict({k: v.tolist() for k, v in fitted.to_dict().items()})
  for name, value in fitted.to_dict().items():
    np.testing.assert_array_equal(getattr(restored, name), value)
