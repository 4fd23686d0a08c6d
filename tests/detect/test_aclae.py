"""The ACLAE-DT baseline: signature matrices, the ConvLSTM autoencoder, its training step and the dynamic threshold."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancbam_jax.detect.aclae import (
    TIME_POINTS,
    WINDOWS,
    AclaeAutoencoder,
    aclae_step,
    dynamic_threshold,
    reconstruction_errors,
    signature_matrices,
)
from gancbam_jax.train.state import adam, create_train_state

SIZE, BANDS = 64, 16


# One compiled scoring function for every test: the modules are static, batches of 3 images share a shape.
errors = jax.jit(reconstruction_errors, static_argnums=(0, 3))


def slices(n: int, seed: int = 0) -> jax.Array:
  return jax.random.uniform(jax.random.key(seed), (n, SIZE, SIZE, 1))


@pytest.fixture(scope="module")
def model_and_variables():
  model = AclaeAutoencoder(BANDS, TIME_POINTS)
  return model, jax.jit(model.init)(jax.random.key(1), signature_matrices(slices(1), BANDS))


def naive_signature_matrices(images: np.ndarray, bands: int) -> np.ndarray:
  """The definition, one image, time point, window and band pair at a time."""
  n, size = images.shape[:2]
  series = images[..., 0].reshape(n, size, bands, size // bands).mean(axis=-1)
  step = (size - max(WINDOWS)) // (TIME_POINTS - 1)
  out = np.zeros((n, TIME_POINTS, bands, bands, len(WINDOWS)))
  for image in range(n):
    for k in range(TIME_POINTS):
      t = size - 1 - (TIME_POINTS - 1 - k) * step
      for c, w in enumerate(WINDOWS):
        for i in range(bands):
          for j in range(bands):
            out[image, k, i, j, c] = sum(series[image, t - d, i] * series[image, t - d, j] for d in range(w)) / w
  return out


def test_signature_matrices_follow_the_definition():
  images = slices(2)
  signatures = jax.jit(signature_matrices, static_argnums=1)(images, BANDS)
  assert signatures.shape == (2, TIME_POINTS, BANDS, BANDS, len(WINDOWS))
  np.testing.assert_allclose(signatures, naive_signature_matrices(np.asarray(images, np.float64), BANDS), rtol=1e-5)
  np.testing.assert_array_equal(signatures, jnp.swapaxes(signatures, 2, 3))


def test_signature_matrices_need_bands_that_divide_the_width():
  with pytest.raises(ValueError, match="do not divide"):
    signature_matrices(slices(1), 12)


def test_the_autoencoder_reconstructs_the_last_matrices_from_every_time_step(model_and_variables):
  model, variables = model_and_variables
  signatures = signature_matrices(slices(1), BANDS)
  # The slice, then copies with one time step's matrices changed: each must reach the output through the
  # ConvLSTMs and the attention.
  changed = jnp.concatenate([signatures] + [signatures.at[:, t].add(0.5) for t in range(TIME_POINTS)])
  outputs = jax.jit(model.apply)(variables, changed)
  assert outputs.shape == (TIME_POINTS + 1, BANDS, BANDS, len(WINDOWS))
  assert np.all(np.abs(np.asarray(outputs[1:] - outputs[:1])).max(axis=(1, 2, 3)) > 1e-4)


def test_reconstruction_errors_export_with_a_symbolic_batch(model_and_variables):
  model, variables = model_and_variables
  closed = jax.jit(functools.partial(reconstruction_errors, model, variables, bands=BANDS))
  shape = jax.ShapeDtypeStruct(jax.export.symbolic_shape(f"b, {SIZE}, {SIZE}, 1"), jnp.float32)
  exported = jax.export.deserialize(jax.export.export(closed)(shape).serialize())
  images = slices(3, seed=3)
  scores, heatmaps = errors(model, variables, images, BANDS)
  assert scores.shape == (3,) and heatmaps.shape == (3, 1, BANDS)
  np.testing.assert_allclose(heatmaps.mean(axis=(1, 2)), scores, rtol=1e-5)
  for n in (2, 3):
    for served, direct in zip(exported.call(images[:n]), (scores[:n], heatmaps[:n])):
      np.testing.assert_allclose(served, direct, atol=1e-5)


def test_adam_steps_reduce_the_reconstruction_error(model_and_variables):
  model, variables = model_and_variables
  # Toy slices: horizontal ramps of random brightness, so the bands' series are correlated.
  ramps = jax.random.uniform(jax.random.key(2), (3, 1, 1, 1)) * jnp.linspace(0, 1, SIZE)[None, None, :, None]
  images = jnp.broadcast_to(ramps, (3, SIZE, SIZE, 1))
  state = create_train_state(model, variables, adam(1e-3, 0.5))
  step = jax.jit(functools.partial(aclae_step, bands=BANDS, batch_size=2))
  mean_error = lambda current: float(errors(model, {"params": current.params}, images, BANDS)[0].mean())
  before = mean_error(state)
  for k in range(30):
    state, metrics = step(state, jax.random.key(k), images, jnp.zeros(3, jnp.int32))
    assert metrics["finite"]
  assert mean_error(state) < 0.5 * before


def test_the_dynamic_threshold_separates_outliers_from_the_bulk():
  bulk = np.random.default_rng(0).normal(1.0, 0.1, 500)
  threshold, z = dynamic_threshold(np.concatenate([bulk, np.full(5, 5.0)]))
  assert bulk.max() < threshold < 5.0 and 2.0 <= z <= 10.0


def test_without_exceedances_the_dynamic_threshold_takes_the_smallest_z():
  errors = np.linspace(1.0, 2.0, 50)  # uniform: no error lies 2 sigma above the mean
  threshold, z = dynamic_threshold(errors)
  assert z == 2.0 and threshold == pytest.approx(errors.mean() + 2.0 * errors.std())


@pytest.mark.parametrize("errors", [[1.0], [1.0, 1.0, 1.0], [1.0, np.nan]])
def test_the_dynamic_threshold_refuses_unusable_errors(errors):
  with pytest.raises(ValueError):
    dynamic_threshold(np.asarray(errors))
