"""Patient-grouped stratified splits, k folds, and the BAGAN imbalance protocol."""

import math

import numpy as np
import pytest

from gancbam_jax.data.splits import SplitError, grouped_kfold, keep_minority_fraction, train_val_test_split


def _cohort(n_patients=54, seed=0):
  """Patients with 1-3 slices each, half of them anomalous, like the Kaggle set (100 slices, 54 patients)."""
  rng = np.random.default_rng(seed)
  slices = rng.integers(1, 4, size=n_patients)
  groups = np.repeat(np.arange(n_patients), slices).astype(str)
  labels = np.repeat(np.arange(n_patients) % 2, slices)
  return labels, groups


def _patients(groups, idx):
  return set(groups[idx].tolist())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_never_shares_a_patient_and_covers_everything(seed):
  labels, groups = _cohort(seed=seed)
  split = train_val_test_split(labels, groups, val_fraction=0.15, test_fraction=0.15, seed=seed)
  parts = [split.train, split.val, split.test]
  assert sorted(np.concatenate(parts).tolist()) == list(range(len(labels)))
  for a in range(3):
    for b in range(a + 1, 3):
      assert not _patients(groups, parts[a]) & _patients(groups, parts[b])


def test_split_is_stratified_and_deterministic():
  labels, groups = _cohort(n_patients=200)
  split = train_val_test_split(labels, groups, seed=3)
  for part in (split.train, split.val, split.test):
    assert abs(labels[part].mean() - labels.mean()) < 0.12
  assert 0.1 < len(split.test) / len(labels) < 0.2
  again = train_val_test_split(labels, groups, seed=3)
  np.testing.assert_array_equal(split.test, again.test)


def test_kfold_tests_every_slice_once_without_patient_leaks():
  labels, groups = _cohort()
  splits = grouped_kfold(labels, groups, folds=5, seed=0)
  tested = np.concatenate([s.test for s in splits])
  assert sorted(tested.tolist()) == list(range(len(labels)))
  for s in splits:
    assert not _patients(groups, s.train) & _patients(groups, s.test)
    assert not _patients(groups, s.val) & (_patients(groups, s.train) | _patients(groups, s.test))


def test_too_few_patients_is_a_clear_error():
  labels, groups = np.array([0, 1, 0, 1]), np.array(["a", "b", "c", "d"])
  with pytest.raises(SplitError, match="needs at least"):
    train_val_test_split(labels, groups, test_fraction=0.1)


@pytest.mark.filterwarnings("ignore:The least populated class")  # The point of the test.
def test_a_split_missing_a_class_is_an_error():
  labels = np.array([0] * 20 + [1])
  groups = np.arange(21).astype(str)
  with pytest.raises(SplitError, match="has no slices of class"):
    train_val_test_split(labels, groups, seed=0)


@pytest.mark.parametrize("u", [0.05, 0.1, 0.2, 0.5])
def test_imbalance_keeps_ceil_u_majority_minority_slices_in_train_only(u):
  labels, groups = _cohort(n_patients=120)
  split = train_val_test_split(labels, groups, seed=0)
  thinned = keep_minority_fraction(split.train, labels, minority_class=1, u=u, seed=0)
  majority = int((labels[split.train] == 0).sum())
  assert int((labels[thinned] == 1).sum()) == math.ceil(u * majority)
  assert set(thinned.tolist()) <= set(split.train.tolist())
  np.testing.assert_array_equal(np.sort(thinned[labels[thinned] == 0]), split.train[labels[split.train] == 0])
