"""The data a training run uses: the patient-grouped split, Min-Max statistics and normalised images.

The split is computed once per run directory and saved (split.json) so that later stages and
evaluation use exactly the same slices: one patient-grouped train/validation/test split, or fold k
of a patient-grouped K-fold cross-validation. Min-Max statistics are fitted on the training split
only. Test images are read only when evaluation asks for them. The BAGAN imbalance protocol (u > 0) thins the training split's anomalous slices; the
validation and test splits keep their natural prevalence.
"""

from __future__ import annotations

import dataclasses

import ml_collections
import numpy as np

from gancbam_jax.data import (
    CtDataset,
    MinMaxStats,
    Split,
    grouped_kfold,
    keep_minority_fraction,
    load_from_config,
    train_val_test_split,
)


@dataclasses.dataclass(frozen=True)
class TrainingData:
  """A dataset, its split, and the normalised training and validation images."""

  dataset: CtDataset
  split: Split
  normalization: MinMaxStats
  train_images: np.ndarray  # (N, S, S, C) float32, one channel per HU window, Min-Max normalised
  train_labels: np.ndarray  # (N,) int32
  val_images: np.ndarray
  val_labels: np.ndarray

  @property
  def class_names(self) -> tuple[str, ...]:
    return self.dataset.class_names

  @property
  def image_shape(self) -> tuple[int, int, int]:
    """One model input's (S, S, C)."""
    return self.train_images.shape[1:]

  def test_images(self) -> tuple[np.ndarray, np.ndarray]:
    """The test split's normalised images and labels: for the final evaluation only."""
    return self.normalization.apply(self.dataset.images(self.split.test)), self.dataset.labels[self.split.test]

  def patient_ids(self, split_name: str) -> np.ndarray:
    """The patient of each slice of a split, in the split's order."""
    return self.dataset.patient_ids[getattr(self.split, split_name)]

  def class_counts(self, labels: np.ndarray) -> dict[str, int]:
    counts = np.bincount(labels, minlength=len(self.class_names))
    return {name: int(n) for name, n in zip(self.class_names, counts)}

  def summary(self) -> dict:
    """Sizes and class counts of each split, and the normalisation, as JSON."""
    labels = self.dataset.labels
    return {
        "dataset": self.dataset.root,
        "classes": list(self.class_names),
        "anomalous_class": self.dataset.anomalous_class,
        "splits": {name: {"slices": len(getattr(self.split, name)),
                          "classes": self.class_counts(labels[getattr(self.split, name)])}
                   for name in ("train", "val", "test")},
        "normalization": self.normalization.to_dict(),
    }


def configured_split(dataset: CtDataset, split_config: ml_collections.ConfigDict,
                     fold: tuple[int, int] | None = None) -> Split:
  """The patient-grouped split a config's `data.split` gives, fold k of K where `fold=(k, K)`, its training
  minority thinned by the BAGAN imbalance protocol when imbalance_u > 0."""
  labels = dataset.labels
  if fold is None:
    split = train_val_test_split(labels, dataset.patient_ids, val_fraction=split_config.val_fraction,
                                 test_fraction=split_config.test_fraction, seed=split_config.seed)
  else:
    k, n_folds = fold
    split = grouped_kfold(labels, dataset.patient_ids, folds=n_folds, val_fraction=split_config.val_fraction,
                          seed=split_config.seed)[k]
  if split_config.imbalance_u > 0:
    thinned = keep_minority_fraction(split.train, labels, dataset.anomalous_index, split_config.imbalance_u,
                                     seed=split_config.seed)
    split = Split(train=thinned, val=split.val, test=split.test)
  return split


def prepare_training_data(data_config: ml_collections.ConfigDict, progress: bool = True,
                          fold: tuple[int, int] | None = None) -> TrainingData:
  """Loads the configured dataset, splits it by patient, thins the training minority, normalises.

  `fold=(k, K)` takes fold k of K (test = the k-th part, validation from the rest) instead of the
  single split given by data.split's fractions.
  """
  dataset = load_from_config(data_config, progress=progress)
  labels = dataset.labels
  split = configured_split(dataset, data_config.split, fold)
  train_raw = dataset.images(split.train)
  normalization = MinMaxStats.fit(train_raw)
  return TrainingData(dataset=dataset, split=split, normalization=normalization,
                      train_images=normalization.apply(train_raw), train_labels=labels[split.train],
                      val_images=normalization.apply(dataset.images(split.val)), val_labels=labels[split.val])
