"""The classifier's training sets: BAGAN augmentation and the ablations that replace it."""

import types

import numpy as np
import pytest

from configs import smoke
from gancbam_jax.detect.atr_gan import acceptance_band, passes_filter
from gancbam_jax.detect.classifier import classifier_stage, rebalanced_training_set
from gancbam_jax.train.augment import SyntheticImages


class _NoBagan:
  """Stands in for the training stages of a run that must not train BAGAN."""

  @property
  def synthetic(self):
    raise AssertionError("BAGAN was trained for a rebalancing that does not use it")


def _run(rebalance: str):
  config = smoke.get_config()
  config.detect.rebalance = rebalance
  rng = np.random.default_rng(0)
  labels = np.array([0] * 12 + [1] * 3, np.int32)  # class 1 (anomalous) is the minority
  images = rng.uniform(size=(15, 8, 8, 1)).astype(np.float32) + labels[:, None, None, None]
  data = types.SimpleNamespace(train_images=images, train_labels=labels, class_names=("normal", "anomalous"),
                               class_counts=lambda y: {"normal": int((y == 0).sum()), "anomalous": int((y == 1).sum())})
  return types.SimpleNamespace(config=config, data=data, n_classes=2)


def test_no_rebalancing_keeps_the_imbalanced_training_split():
  run = _run("none")
  training = rebalanced_training_set(run, _NoBagan())
  np.testing.assert_array_equal(training.images, run.data.train_images)
  np.testing.assert_array_equal(training.class_weights, [1.0, 1.0])
  assert training.added == {}


def test_class_weights_are_inverse_class_frequencies():
  training = rebalanced_training_set(_run("class_weights"), _NoBagan())
  np.testing.assert_allclose(training.class_weights, [15 / (2 * 12), 15 / (2 * 3)])
  assert len(training.labels) == 15


def test_oversampling_balances_the_classes_with_real_minority_slices_only():
  run = _run("oversample")
  training = rebalanced_training_set(run, _NoBagan())
  assert np.bincount(training.labels).tolist() == [12, 12]
  minority = run.data.train_images[run.data.train_labels == 1].reshape(3, -1)
  for image in training.images[training.labels == 1].reshape(12, -1):
    assert (np.abs(minority - image).max(axis=1) == 0).any()  # every added slice is a real one, repeated
  assert training.added == {"anomalous": {"repeated_real": 9}}


def test_bagan_rebalancing_adds_the_synthetic_slices():
  run = _run("bagan")
  synthetic = SyntheticImages(np.zeros((9, 8, 8, 1), np.float32), np.ones(9, np.int32))
  training = rebalanced_training_set(run, types.SimpleNamespace(synthetic=synthetic))
  assert np.bincount(training.labels).tolist() == [12, 12]
  assert training.added == {"anomalous": {"synthetic": 9}}


def test_a_synthetic_share_caps_bagans_slices_and_repeats_real_ones_for_the_rest():
  run = _run("bagan")
  run.config.detect.synthetic_share = 0.5
  synthetic = SyntheticImages(np.full((9, 8, 8, 1), -1.0, np.float32), np.ones(9, np.int32))
  training = rebalanced_training_set(run, types.SimpleNamespace(synthetic=synthetic))
  assert np.bincount(training.labels).tolist() == [12, 12]
  anomalous = training.images[training.labels == 1].reshape(12, -1)
  generated = (anomalous == -1.0).all(axis=1)
  assert generated.sum() == 6  # half of the 12 once balanced
  minority = run.data.train_images[run.data.train_labels == 1].reshape(3, -1)
  for image in anomalous[~generated]:
    assert (np.abs(minority - image).max(axis=1) == 0).any()
  assert training.added == {"anomalous": {"repeated_real": 3, "synthetic": 6}}


def test_each_training_set_gets_its_own_classifier_stage():
  """A second rebalancing, trunk initialisation or ATR-GAN in a run directory must not resume a classifier trained
  on other data or from another start."""
  stages = set()
  for method, rebalance in [("classifier", r) for r in ("bagan", "none", "class_weights", "oversample")] + [
      ("atr_gan", "bagan")]:
    config = smoke.get_config()
    config.detect.method, config.detect.rebalance = method, rebalance
    stages.add(classifier_stage(config))
  config.detect.method, config.detect.synthetic_share = "classifier", 0.5
  stages.add(classifier_stage(config))
  config.detect.synthetic_share = 1.0
  for method, rebalance in (("classifier", "bagan"), ("classifier", "oversample"), ("atr_gan", "bagan")):
    config.detect.method, config.detect.rebalance, config.detect.classifier_init = method, rebalance, "random"
    stages.add(classifier_stage(config))
  assert len(stages) == 9 and "classifier" in stages  # the method's own keeps its name (existing runs resume)


def test_the_atr_gan_filter_rejects_memorised_and_poor_candidates():
  rng = np.random.default_rng(0)
  real = rng.normal(size=(40, 8))
  low, high = acceptance_band(real)
  nearest_other = (np.linalg.norm(real[:, None] - real[None], axis=-1) + np.diag(np.full(40, np.inf))).min(axis=1)
  assert (low, high) == pytest.approx(tuple(np.percentile(nearest_other, (5, 95))))
  memorised = real[:5] + 1e-6
  poor = real[:5] + 100.0
  typical = real[:5] + (low + high) / 2 / np.sqrt(8)  # a nearest-real distance inside the band
  kept = passes_filter(np.concatenate([memorised, poor, typical]), real, (low, high))
  assert not kept[:10].any() and kept[10:].any()
