"""Patient-grouped, stratified train/validation/test splits and k folds; the BAGAN imbalance protocol.

Slices of one patient are strongly correlated, so a patient never appears in two splits: a
model that saw a patient's neighbouring slices in training would look better on test than it
is. Splits are stratified by class so every split keeps the dataset's prevalence, and every
split must contain every class (metrics such as recall are undefined otherwise).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np


def _stratified_group_kfold(n_splits: int, seed: int):
  # Imported here: scikit-learn takes most of a second to import, and the decoding worker
  # processes, which import this package, never split.
  from sklearn.model_selection import StratifiedGroupKFold

  return StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)


class SplitError(ValueError):
  """The data cannot be split as asked (too few patients, or a class missing from a split)."""


@dataclasses.dataclass(frozen=True)
class Split:
  """Indices into a dataset; disjoint, and no patient in two of them."""

  train: np.ndarray
  val: np.ndarray
  test: np.ndarray

  def to_dict(self) -> dict[str, list[int]]:
    return {name: getattr(self, name).tolist() for name in ("train", "val", "test")}


def _hold_out(candidates: np.ndarray, labels: np.ndarray, groups: np.ndarray, fraction: float,
              seed: int) -> tuple[np.ndarray, np.ndarray]:
  """Splits `candidates` into (kept, held_out) with about `fraction` held out, grouped and stratified.

  StratifiedGroupKFold with round(1 / fraction) folds, taking its first fold as the held-out part.
  """
  if not 0.0 < fraction < 1.0:
    raise SplitError(f"a split fraction must lie in (0, 1), got {fraction}")
  n_folds = max(2, round(1.0 / fraction))
  n_groups = len(np.unique(groups[candidates]))
  if n_groups < n_folds:
    raise SplitError(f"holding out {fraction:.0%} needs at least {n_folds} patients, only {n_groups} remain; "
                     "use larger fractions or fewer folds, or more data")
  folds = _stratified_group_kfold(n_folds, seed)
  kept, held_out = next(folds.split(candidates, labels[candidates], groups[candidates]))
  return candidates[kept], candidates[held_out]


def _checked(split: Split, labels: np.ndarray, groups: np.ndarray, n_classes: int) -> Split:
  for name in ("train", "val", "test"):
    present = set(labels[getattr(split, name)].tolist())
    missing = sorted(set(range(n_classes)) - present)
    if missing:
      raise SplitError(f"the {name} split has no slices of class(es) {missing}; the dataset has too few "
                       "patients of that class for these split fractions (use more data, larger fractions or "
                       "fewer folds)")
  patient_sets = [set(groups[getattr(split, name)].tolist()) for name in ("train", "val", "test")]
  # StratifiedGroupKFold guarantees this; checked because a leak here would invalidate every result.
  assert not (patient_sets[0] & patient_sets[1] or patient_sets[0] & patient_sets[2] or
              patient_sets[1] & patient_sets[2]), "a patient appears in two splits"
  return split


def train_val_test_split(labels: np.ndarray, groups: np.ndarray, *, val_fraction: float = 0.15,
                         test_fraction: float = 0.15, seed: int = 0) -> Split:
  """One stratified, patient-grouped split. Fractions are approximate (whole patients move)."""
  labels, groups = np.asarray(labels), np.asarray(groups)
  everything = np.arange(len(labels))
  rest, test = _hold_out(everything, labels, groups, test_fraction, seed)
  train, val = _hold_out(rest, labels, groups, val_fraction / (1.0 - test_fraction), seed + 1)
  return _checked(Split(np.sort(train), np.sort(val), np.sort(test)), labels, groups, int(labels.max()) + 1)


def grouped_kfold(labels: np.ndarray, groups: np.ndarray, *, folds: int, val_fraction: float = 0.15,
                  seed: int = 0) -> list[Split]:
  """K stratified, patient-grouped folds: fold k tests on the k-th part, validates on a part of the rest.

  Every slice is tested exactly once over the K folds.
  """
  labels, groups = np.asarray(labels), np.asarray(groups)
  if folds < 2:
    raise SplitError(f"k-fold cross-validation needs at least 2 folds, got {folds}")
  if len(np.unique(groups)) < folds:
    raise SplitError(f"{folds} folds need at least {folds} patients, the data has {len(np.unique(groups))}")
  n_classes = int(labels.max()) + 1
  splitter = _stratified_group_kfold(folds, seed)
  splits = []
  for k, (rest, test) in enumerate(splitter.split(labels, labels, groups)):
    train, val = _hold_out(rest, labels, groups, val_fraction / (1.0 - 1.0 / folds), seed + 1 + k)
    splits.append(_checked(Split(np.sort(train), np.sort(val), np.sort(test)), labels, groups, n_classes))
  return splits


def keep_minority_fraction(train: np.ndarray, labels: np.ndarray, minority_class: int, u: float,
                           seed: int = 0) -> np.ndarray:
  """The BAGAN imbalance protocol: keep ceil(u * majority count) training slices of the minority class.

  Only the training split is thinned; validation and test keep their natural prevalence. The
  majority count is that of the largest other class.
  """
  if not 0.0 < u <= 1.0:
    raise SplitError(f"imbalance ratio u must lie in (0, 1], got {u}")
  labels = np.asarray(labels)
  train = np.asarray(train)
  minority = train[labels[train] == minority_class]
  others = labels[train][labels[train] != minority_class]
  if len(minority) == 0 or len(others) == 0:
    raise SplitError("the training split needs slices of the minority class and of another class")
  majority = np.bincount(others).max()
  keep = min(len(minority), math.ceil(u * majority))
  kept_minority = np.random.default_rng(seed).choice(minority, size=keep, replace=False)
  return np.sort(np.concatenate([train[labels[train] != minority_class], kept_minority]))
