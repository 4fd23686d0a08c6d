"""The random-forest peer: JAX scores equal scikit-learn's predict_proba, it ranks anomalies first, refuses one class."""

import jax
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score

from gancbam_jax.detect.forest import fit_random_forest, forest_outputs

SIZE = 12
TREES = 40


def _slices(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
  """(n, S, S, 1) noisy slices; the anomalous half has a brighter patch at a fixed place."""
  images = rng.uniform(0.2, 0.6, size=(n, SIZE, SIZE, 1)).astype(np.float32)
  labels = np.arange(n) % 2
  images[labels == 1, 3:7, 3:7] += 0.3
  return images, labels


def test_forest_scores_equal_sklearn_predict_proba_on_unseen_slices():
  rng = np.random.default_rng(0)
  train, labels = _slices(rng, 80)
  test, _ = _slices(rng, 50)
  forest = fit_random_forest(train, labels, TREES, seed=3)
  scores, heatmaps = jax.jit(forest_outputs)(forest, test)
  reference = RandomForestClassifier(TREES, class_weight="balanced", random_state=3).fit(train.reshape(80, -1), labels)
  np.testing.assert_allclose(np.asarray(scores), reference.predict_proba(test.reshape(50, -1))[:, 1], atol=1e-6)
  assert heatmaps.shape == (50, SIZE, SIZE)


def test_forest_ranks_anomalous_slices_first_and_its_heatmap_points_at_the_patch():
  rng = np.random.default_rng(1)
  train, labels = _slices(rng, 80)
  test, test_labels = _slices(rng, 40)
  scores, heatmaps = forest_outputs(fit_random_forest(train, labels, TREES, seed=0), test)
  assert roc_auc_score(test_labels, np.asarray(scores)) > 0.95
  mean_map = np.asarray(heatmaps)[test_labels == 1].mean(axis=0)
  assert mean_map[3:7, 3:7].mean() > 3 * np.delete(mean_map.ravel(), np.ravel_multi_index(
      np.mgrid[3:7, 3:7].reshape(2, -1), mean_map.shape)).mean()


def test_a_training_split_of_one_class_is_refused():
  images, _ = _slices(np.random.default_rng(2), 10)
  with pytest.raises(ValueError, match="normal and anomalous training slices"):
    fit_random_forest(images, np.zeros(10, int), TREES, seed=0)
