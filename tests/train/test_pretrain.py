"""The autoencoder's reconstruction error, and its references: the mean training slice, and PCA of as many axes on
the same (augmented) slices."""

import jax
import numpy as np
import pytest

from gancbam_jax.train.pretrain import linear_code_error, mean_image_error, reconstruction_error
from gancbam_jax.train.transforms import ClassicAugmentation

SIZE = 24
SHIFTS = ClassicAugmentation(rotation_deg=0.0, zoom=0.0, shift_fraction=0.25, intensity_scale=0.0,
                             intensity_shift=0.0, flip=False)


def _disc(centre: tuple[float, float], radius: float = 4.0) -> np.ndarray:
  rows, cols = np.mgrid[:SIZE, :SIZE]
  inside = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius ** 2
  return inside.astype(np.float32)[..., None]


def test_a_floor_pixel_is_matched_by_any_output_a_margin_below_it_and_others_by_their_value():
  targets = np.array([0.0, 0.0, 0.0, 0.0, 0.3, 0.3])
  outputs = np.array([-0.5, -0.1, -0.05, 0.02, 0.3, -0.2])
  np.testing.assert_allclose(reconstruction_error(outputs, targets, floor_margin=0.1),
                             [0.0, 0.0, 0.05 ** 2, 0.12 ** 2, 0.0, 0.5 ** 2], atol=1e-7)
  np.testing.assert_allclose(reconstruction_error(outputs, targets), np.square(outputs - targets), atol=1e-7)


def test_slices_inside_the_span_are_reconstructed_and_fewer_axes_lose_them():
  rng = np.random.default_rng(0)
  basis = rng.uniform(0, 1, (3, SIZE, SIZE, 1)).astype(np.float32)
  train, val = (np.einsum("nk,khwc->nhwc", rng.uniform(0, 1, (n, 3)), basis).astype(np.float32) for n in (30, 5))
  key = jax.random.key(0)
  assert linear_code_error(key, train, val, components=3) < 1e-6 * mean_image_error(train, val)
  assert linear_code_error(key, train, val, components=1) > 0.01 * mean_image_error(train, val)


def test_augmented_copies_teach_the_code_the_shifts_it_must_reconstruct():
  train = np.stack([_disc((12.0, 12.0)), _disc((12.0, 12.5))])
  val = np.stack([_disc((9.0, 14.0)), _disc((15.0, 10.0))])
  key = jax.random.key(0)
  plain = linear_code_error(key, train, val, components=20)
  augmented = linear_code_error(key, train, val, components=20, augmentation=SHIFTS)
  assert augmented < 0.5 * plain
  assert linear_code_error(key, train, val, components=20, augmentation=SHIFTS) == pytest.approx(augmented, rel=1e-6)
