"""The classifier's epoch selection on validation: the metrics it is chosen by, and each criterion's choice."""

import numpy as np
import pytest

from gancbam_jax.detect.classifier import SELECTION_CRITERIA, validation_metrics


def test_validation_metrics_rank_by_the_probability_of_the_anomalous_class():
  probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.45, 0.55]])
  labels = np.array([0, 1, 0, 0])
  metrics = validation_metrics(np.log(probabilities), labels, anomalous_index=1)
  assert metrics["val_loss"] == pytest.approx(-np.log([0.9, 0.8, 0.6, 0.45]).mean())
  assert metrics["val_accuracy"] == 0.75 and metrics["val_roc_auc"] == 1.0
  # The anomalous class may be index 0: the score is then the first column.
  assert validation_metrics(np.log(probabilities[:, ::-1]), 1 - labels, anomalous_index=0)["val_roc_auc"] == 1.0


def test_each_criterion_keeps_its_best_epoch_ties_in_roc_auc_go_to_the_lower_loss_and_last_keeps_the_last():
  epochs = [{"epoch": 1, "val_loss": 0.50, "val_roc_auc": 0.80},
            {"epoch": 2, "val_loss": 0.60, "val_roc_auc": 0.90},
            {"epoch": 3, "val_loss": 0.55, "val_roc_auc": 0.90}]
  chosen = {name: min(epochs, key=sort_key)["epoch"] for name, (sort_key, _) in SELECTION_CRITERIA.items()}
  assert chosen == {"val_loss": 1, "val_roc_auc": 3, "last": 3}
