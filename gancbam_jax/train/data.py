"""The data a training run uses: the patient-grouped split, Min-Max statistics and normalised images.

The split is computed once per run directory and saved (split.json) so that later stages and
evaluation use exactly the same slices. Min-Max statistics are fitted on the training split
only. The BAGAN imbalance protocol (u > 0) thins the training split's anomalous slices; the
validation and test splits keep their natural prevalence.
"""

from __future__ import annotations

import dataclasses

import ml_collections
import numpy as np

from gancbam_jax.data import CtDataset, MinMaxStats, Split, keep_minority_fraction, load_from_config, train_val_test_split


@dataclasses.dataclass(frozen=True)
class TrainingData:
  """A dataset, its split, and the normalised training and validation images."""

  dataset: CtDataset
  split: Split
  normalization: MinMaxStats
  train_images: np.ndarray  # (N, S, S, 1) float32, Min-Max normalised
  train_labels: np.ndarray  # (N,) int32
  val_images: np.ndarray
  val_labels: np.ndarray

  @property
  def class_names(self) -> tuple[str, ...]:
    return self.dataset.class_names

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


def prepare_training_data(data_config: ml_collections.ConfigDict, progress: bool = True) -> TrainingData:
  """Loads the configured dataset, splits it by patient, thins the training minority, normalises."""
  dataset = load_from_config(data_config, progress=progress)
  labels = dataset.labels
  split_config = data_config.split
  split = train_val_test_split(labels, dataset.patient_ids, val_fraction=split_config.val_fraction,
                               test_fraction=split_config.test_fraction, seed=split_config.seed)
  if split_config.imbalance_u > 0:
    thinned = keep_minority_fraction(split.train, labels, dataset.anomalous_index, split_config.imbalance_u,
                                     seed=split_config.seed)
    split = Split(train=thinned, val=split.val, test=split.test)
  train_raw = dataset.images(split.train)
  normalization = MinMaxStats.fit(train_raw)
  return TrainingData(dataset=dataset, split=split, normalization=normalization,
                      train_images=normalization.apply(train_raw), train_labels=labels[split.train],
                      val_images=normalization.apply(dataset.images(split.val)), val_labels=labels[split.val])
