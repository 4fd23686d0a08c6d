"""Augmentation inside the training steps: deterministic per key, shapes and range kept, DiffAugment differentiable."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancbam_jax.train.transforms import (
    CUTOUT_RATIO,
    DIFF_AUGMENTATIONS,
    TRANSLATION_RATIO,
    ClassicAugmentation,
    classic_augment,
    diff_augment,
    mixup,
    parse_policy,
)

SIZE = 32
IDENTITY = ClassicAugmentation(rotation_deg=0.0, zoom=0.0, shift_fraction=0.0, intensity_scale=0.0,
                               intensity_shift=0.0, flip=False)
EVERY_TRANSFORM = tuple(DIFF_AUGMENTATIONS)


@pytest.fixture(scope="module")
def slices() -> np.ndarray:
  """Eight smooth 'slices' in [0, 1]: a disc of tissue with a brighter blob, air around it."""
  rows, cols = np.mgrid[:SIZE, :SIZE] / SIZE
  rng = np.random.default_rng(0)
  images = []
  for _ in range(8):
    cy, cx = rng.uniform(0.3, 0.7, 2)
    body = (np.hypot(rows - 0.5, cols - 0.5) < 0.4) * 0.4
    blob = 0.5 * np.exp(-((rows - cy) ** 2 + (cols - cx) ** 2) / 0.005)
    images.append(np.clip(body + blob, 0, 1))
  return np.asarray(images, np.float32)[..., None]


def test_classic_augmentation_is_a_function_of_the_key(slices):
  augment = jax.jit(classic_augment, static_argnums=2)
  policy = ClassicAugmentation()
  first, again = augment(jax.random.key(3), slices, policy), augment(jax.random.key(3), slices, policy)
  np.testing.assert_array_equal(np.asarray(first), np.asarray(again))
  assert not np.allclose(np.asarray(first), np.asarray(augment(jax.random.key(4), slices, policy)))


def test_classic_augmentation_keeps_shape_dtype_and_the_unit_range(slices):
  strong = ClassicAugmentation(rotation_deg=30, zoom=0.3, shift_fraction=0.2, intensity_scale=0.5,
                               intensity_shift=0.5, flip=True)
  out = np.asarray(classic_augment(jax.random.key(0), slices, strong))
  assert out.shape == slices.shape and out.dtype == slices.dtype
  assert out.min() >= 0.0 and out.max() <= 1.0
  assert not np.allclose(out, slices)


def test_classic_augmentation_with_zero_ranges_is_the_identity(slices):
  np.testing.assert_allclose(np.asarray(classic_augment(jax.random.key(0), slices, IDENTITY)), slices, atol=1e-6)


def test_a_widened_policy_scales_the_affine_ranges_and_keeps_intensity_and_flip():
  policy = ClassicAugmentation(rotation_deg=10.0, zoom=0.1, shift_fraction=0.06, intensity_scale=0.1,
                               intensity_shift=0.05, flip=True)
  assert policy.widened(2.0) == ClassicAugmentation(rotation_deg=20.0, zoom=0.2, shift_fraction=0.12,
                                                    intensity_scale=0.1, intensity_shift=0.05, flip=True)
  assert policy.widened(1.0) == policy


def test_flipping_gives_each_slice_or_its_mirror(slices):
  out = np.asarray(classic_augment(jax.random.key(1), slices, dataclasses.replace(IDENTITY, flip=True)))
  mirrored = [np.allclose(o, s[:, ::-1], atol=1e-6) and not np.allclose(o, s, atol=1e-6) for o, s in zip(out, slices)]
  kept = [np.allclose(o, s, atol=1e-6) for o, s in zip(out, slices)]
  assert all(m or k for m, k in zip(mirrored, kept)) and any(mirrored) and any(kept)


def test_a_rotation_moves_content_about_the_centre_and_fills_with_air():
  image = np.zeros((1, SIZE, SIZE, 1), np.float32)
  image[0, 2:6, :, 0] = 1.0  # a bright band along the top edge
  turned = np.asarray(classic_augment(jax.random.key(0), image, dataclasses.replace(IDENTITY, rotation_deg=45)))
  assert turned[0, 2:6, :, 0].sum() < image[0, 2:6, :, 0].sum()  # moved away from where it was
  assert turned.min() >= 0.0 and turned[0, SIZE // 2, SIZE // 2, 0] == 0.0  # air stays air


def test_diffaugment_is_a_function_of_the_key_and_keeps_the_shape(slices):
  policy = EVERY_TRANSFORM
  first = np.asarray(diff_augment(jax.random.key(5), slices, policy))
  np.testing.assert_array_equal(first, np.asarray(diff_augment(jax.random.key(5), slices, policy)))
  assert first.shape == slices.shape
  assert not np.allclose(first, np.asarray(diff_augment(jax.random.key(6), slices, policy)))


def test_diffaugment_lets_gradients_reach_the_pixels(slices):
  """G learns through DiffAugment: the gradient of D's input with respect to G's output is not zero."""
  weights = jnp.asarray(np.random.default_rng(1).normal(size=slices.shape[1:]), jnp.float32)
  gradient = jax.grad(lambda x: jnp.sum(diff_augment(jax.random.key(2), x, EVERY_TRANSFORM) * weights))(
      jnp.asarray(slices))
  gradient = np.asarray(gradient)
  assert np.isfinite(gradient).all() and np.count_nonzero(gradient) > gradient.size // 4


def test_cutout_blanks_a_square_of_half_the_side():
  ones = jnp.ones((16, SIZE, SIZE, 1))
  out = np.asarray(diff_augment(jax.random.key(0), ones, ("cutout",)))
  side = int(SIZE * CUTOUT_RATIO)
  blanked = (out == 0.0).sum(axis=(1, 2, 3))
  assert blanked.max() == side * side and blanked.min() > 0  # a whole square inside, clipped at the edges


def test_translation_shifts_by_whole_pixels_within_an_eighth_and_fills_with_air(slices):
  out = np.asarray(diff_augment(jax.random.key(4), slices, ("translation",)))
  limit = int(SIZE * TRANSLATION_RATIO)
  for moved, original in zip(out, slices):
    matches = [(dy, dx) for dy in range(-limit, limit + 1) for dx in range(-limit, limit + 1)
               if np.array_equal(moved, _shifted(original, dy, dx))]
    assert matches


def _shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
  out = np.zeros_like(image)
  rows, cols = slice(max(dy, 0), SIZE + min(dy, 0)), slice(max(dx, 0), SIZE + min(dx, 0))
  out[rows, cols] = image[max(-dy, 0):SIZE - max(dy, 0), max(-dx, 0):SIZE - max(dx, 0)]
  return out


def test_a_policy_names_known_transforms_only():
  assert parse_policy(" translation, cutout ") == ("translation", "cutout")
  assert parse_policy("") == ()
  with pytest.raises(ValueError, match="colour is not one of brightness, contrast, translation, cutout"):
    parse_policy("translation,colour")


def _blended(slices, partner, weight):
  """What mixup must return: each slice weight[i] of itself and 1 - weight[i] of its partner."""
  share = weight[:, None, None, None]
  return share * slices + (1 - share) * slices[partner]


def test_mixup_blends_each_slice_with_a_partner_of_the_same_batch_by_its_weight(slices):
  mixed, partner, weight = jax.jit(mixup, static_argnums=2)(jax.random.key(0), slices, 0.4)
  mixed, partner, weight = np.asarray(mixed), np.asarray(partner), np.asarray(weight)
  assert mixed.shape == slices.shape and mixed.dtype == slices.dtype
  assert sorted(partner) == list(range(len(slices)))  # a permutation: every slice is someone's partner once
  assert np.all((weight >= 0) & (weight <= 1)) and len(np.unique(weight)) == len(slices)
  np.testing.assert_allclose(mixed, _blended(slices, partner, weight), atol=1e-6)
  assert mixed.min() >= 0.0 and mixed.max() <= 1.0


def test_mixup_within_classes_blends_each_slice_with_one_of_its_own_class(slices):
  labels = jnp.array([0, 1, 0, 0, 1, 0, 1, 2])  # class 2 has one slice: its only partner is itself
  mixed, partner, weight = jax.jit(mixup, static_argnums=2)(jax.random.key(1), slices, 0.4, labels)
  mixed, partner, weight = np.asarray(mixed), np.asarray(partner), np.asarray(weight)
  np.testing.assert_array_equal(np.asarray(labels)[partner], np.asarray(labels))
  assert partner[7] == 7 and np.any(partner[:7] != np.arange(7))  # not everyone blended with itself
  np.testing.assert_allclose(mixed, _blended(slices, partner, weight), atol=1e-6)


def test_mixup_is_a_function_of_the_key(slices):
  first, again, other = (mixup(jax.random.key(k), slices, 0.4) for k in (3, 3, 4))
  for a, b in zip(first, again):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert not np.allclose(np.asarray(first[2]), np.asarray(other[2]))
