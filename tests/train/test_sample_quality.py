"""The generated-slice checks: a two-sample test near 0.5 for one distribution and near 1.0 for noise, a
Fréchet distance that grows with the difference, and no numbers where too few slices exist."""

import numpy as np
import pytest
import scipy.ndimage

from gancbam_jax.train.sample_quality import (
    MIN_SLICES,
    compare_samples,
    frechet_distance,
    generated_quality,
    slice_features,
    two_sample_test,
)

SIZE = 32


def _slices(n: int, seed: int) -> np.ndarray:
  """Phantom-like slices in [0, 1]: an elliptical body with a few dense blobs and mild noise, all varying."""
  rng = np.random.default_rng(seed)
  rows, cols = np.mgrid[:SIZE, :SIZE] / SIZE
  images = []
  for _ in range(n):
    a, b = rng.uniform(0.3, 0.45, 2)
    image = 0.35 * (((rows - 0.5) / a) ** 2 + ((cols - 0.5) / b) ** 2 < 1)
    for _ in range(rng.integers(2, 5)):
      cy, cx, width = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.002, 0.01)
      image = image + rng.uniform(0.2, 0.5) * np.exp(-((rows - cy) ** 2 + (cols - cx) ** 2) / width)
    images.append(image + rng.normal(0, 0.02, image.shape))
  return np.clip(np.asarray(images, np.float32), 0, 1)[..., None]


@pytest.fixture(scope="module")
def real() -> np.ndarray:
  return _slices(80, seed=0)


def test_two_halves_of_one_set_are_indistinguishable(real):
  aucs = []
  for seed in range(5):
    order = np.random.default_rng(seed).permutation(len(real))
    features = slice_features(real[order])
    aucs.append(two_sample_test(features[:40], features[40:], seed=seed))
  assert 0.3 < np.mean(aucs) < 0.7


def test_noise_and_blur_are_recognised_as_not_real(real):
  noise = np.random.default_rng(1).uniform(size=real[:40].shape).astype(np.float32)
  blurred = scipy.ndimage.gaussian_filter(real[40:], (0, 1.5, 1.5, 0))
  assert compare_samples(real[:40], noise)["c2st_roc_auc"] > 0.99
  assert compare_samples(real[:40], blurred)["c2st_roc_auc"] > 0.9


def test_the_frechet_distance_is_zero_for_one_set_and_grows_with_the_difference(real):
  features = slice_features(real)
  assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-9)
  same = compare_samples(real[:40], real[40:])
  noise = compare_samples(real[:40], np.random.default_rng(2).uniform(size=real[:40].shape).astype(np.float32))
  assert noise["frechet_distance"] > 10 * same["frechet_distance"]
  assert same["frechet_distance_real_halves"] is not None


def test_too_few_slices_give_no_numbers_and_the_pooled_test_still_runs(real):
  labels = np.r_[np.zeros(30, int), np.ones(MIN_SLICES - 1, int)]
  images = real[:len(labels)]
  quality = generated_quality(images, labels, [(_slices(len(labels), seed=3), labels)], ("normal", "anomalous"))
  assert quality["per_class"]["anomalous"]["c2st_roc_auc"] is None
  assert quality["per_class"]["anomalous"]["c2st_roc_auc_per_draw"] is None
  assert quality["per_class"]["normal"]["c2st_roc_auc"] is not None
  assert 0.0 <= quality["all_classes"]["c2st_roc_auc"] <= 1.0
  with pytest.raises(ValueError, match="at least 4 slices per side"):
    two_sample_test(slice_features(images[:3]), slice_features(images[:10]))


def test_the_quality_is_the_mean_over_draws_each_held_out_by_its_own_folds(real):
  labels = np.r_[np.zeros(20, int), np.ones(20, int)]
  draws = [(_slices(40, seed=seed), labels) for seed in (4, 5, 6)]
  quality = generated_quality(real[:40], labels, draws, ("normal", "anomalous"), seed=7)
  each = [compare_samples(real[:40], images, seed=7 + r) for r, (images, _) in enumerate(draws)]
  pooled = quality["all_classes"]
  assert pooled["draws"] == 3 and pooled["synthetic"] == 40
  assert pooled["c2st_roc_auc_per_draw"] == [entry["c2st_roc_auc"] for entry in each]
  assert pooled["c2st_roc_auc"] == pytest.approx(np.mean(pooled["c2st_roc_auc_per_draw"]))
  assert pooled["c2st_roc_auc_sd"] == pytest.approx(np.std(pooled["c2st_roc_auc_per_draw"], ddof=1))
  assert pooled["frechet_distance"] == pytest.approx(np.mean([entry["frechet_distance"] for entry in each]))
  anomalous = compare_samples(real[20:40], draws[1][0][20:], seed=8)
  assert quality["per_class"]["anomalous"]["c2st_roc_auc_per_draw"][1] == anomalous["c2st_roc_auc"]
  with pytest.raises(ValueError, match="at least one synthetic draw"):
    generated_quality(real[:40], labels, [], ("normal", "anomalous"))


def test_features_are_fixed_across_calls(real):
  np.testing.assert_array_equal(slice_features(real[:5]), slice_features(real[:5]))


def test_on_real_ct_halves_read_as_one_distribution_and_noise_as_not_ct(siim_root, tmp_path):
  """The 12 real slices of the sample: random halves give about 0.5, the slices against noise 1.0."""
  from gancbam_jax.data import load_ct_dataset
  from gancbam_jax.data.preprocess import PreprocessSettings

  images = load_ct_dataset(siim_root, settings=PreprocessSettings(image_size=64), cache_dir=tmp_path, num_workers=1,
                           progress=False).images()
  images = (images - images.min()) / (images.max() - images.min())
  features = slice_features(images)
  rng = np.random.default_rng(0)
  orders = [rng.permutation(len(images)) for _ in range(8)]
  halves = [two_sample_test(features[order[:6]], features[order[6:]], seed=seed) for seed, order in enumerate(orders)]
  assert 0.25 < np.mean(halves) < 0.75
  noise = np.random.default_rng(1).uniform(size=images.shape).astype(np.float32)
  assert compare_samples(images, noise)["c2st_roc_auc"] > 0.99
