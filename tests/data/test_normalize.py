"""Min-Max normalisation fitted on the training split only."""

import json

import numpy as np
import pytest

from gancbam_jax.data.normalize import MinMaxStats
from gancbam_jax.data.splits import train_val_test_split


def test_statistics_come_from_the_training_split_only():
  rng = np.random.default_rng(0)
  labels = np.tile([0, 1], 30)
  groups = np.arange(60).astype(str)
  images = rng.uniform(-200, 800, size=(60, 8, 8, 1)).astype(np.float32)
  split = train_val_test_split(labels, groups, seed=0)
  images[split.test[0], 0, 0, 0] = 5000.0  # An outlier outside training must not move the statistics.
  stats = MinMaxStats.fit(images[split.train])
  assert stats.x_max == (float(images[split.train].max()),) and stats.x_max[0] < 5000.0
  assert stats.x_min == (float(images[split.train].min()),)
  normalised = stats.apply(images[split.train])
  assert normalised.min() == 0.0 and normalised.max() == 1.0


def test_fitting_batches_equals_fitting_the_whole():
  x = np.random.default_rng(1).normal(size=(50, 4, 4, 1)).astype(np.float32)
  assert MinMaxStats.fit(iter([x[:7], x[7:30], x[30:]])) == MinMaxStats.fit(x)


def test_json_round_trip_and_inverse():
  stats = MinMaxStats(x_min=-200.0, x_max=1000.0)
  restored = MinMaxStats.from_dict(json.loads(json.dumps(stats.to_dict())))
  assert restored == stats
  x = np.array([-200.0, 400.0, 1000.0], dtype=np.float32)
  np.testing.assert_allclose(restored.apply(x), [0.0, 0.5, 1.0])
  np.testing.assert_allclose(restored.invert(restored.apply(x)), x, atol=1e-4)


def test_each_channel_gets_its_own_range():
  rng = np.random.default_rng(2)
  images = np.stack([rng.uniform(-200, 1000, (6, 4, 4)), rng.uniform(-1000, 400, (6, 4, 4))], axis=-1)
  stats = MinMaxStats.fit(images)
  assert stats.channels == 2
  normalised = stats.apply(images)
  np.testing.assert_allclose(normalised.reshape(-1, 2).min(axis=0), 0.0, atol=1e-6)
  np.testing.assert_allclose(normalised.reshape(-1, 2).max(axis=0), 1.0, atol=1e-6)
  assert MinMaxStats.from_dict(json.loads(json.dumps(stats.to_dict()))) == stats
  # A single-channel run's statistics, stored as scalars, still read back.
  assert MinMaxStats.from_dict({"x_min": -200.0, "x_max": 1000.0}) == MinMaxStats(x_min=(-200.0,), x_max=(1000.0,))


def test_zero_range_is_an_error_not_a_division_by_zero():
  with pytest.raises(ValueError, match="divide by zero"):
    MinMaxStats.fit(np.full((4, 8, 8, 1), 40.0))


def test_bad_inputs_are_refused():
  with pytest.raises(ValueError, match="training split is empty"):
    MinMaxStats.fit(np.empty((0, 8, 8, 1)))
  with pytest.raises(ValueError, match=r"lack \['x_max'\]"):
    MinMaxStats.from_dict({"x_min": 0.0})
