"""Shallow detectors on PCA features: JAX scores equal scikit-learn's and scipy's, rank anomalies first, export."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import serialization
from scipy.stats import multivariate_normal
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.svm import OneClassSVM

from gancbam_jax.detect import shallow
from gancbam_jax.detect.slice_features import deviation_map, fit_pca, project

IMAGE_SIZE = 16
N_FEATURES = 5


def _blobs(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
  """Correlated Gaussian features, shifted by `shift` in every dimension."""
  mixing = np.eye(N_FEATURES) + 0.3 * rng.normal(size=(N_FEATURES, N_FEATURES))
  return (rng.normal(size=(n, N_FEATURES)) @ mixing + shift).astype(np.float32)


def _held_out(rng: np.random.Generator) -> np.ndarray:
  """Normal features, anomalies just outside them and far outliers."""
  return np.concatenate([_blobs(rng, 60), _blobs(rng, 30, 2.0), 10 * _blobs(rng, 10)])


def _slices(rng: np.random.Generator, n: int, anomalous: bool = False) -> np.ndarray:
  """(n, S, S, 1) toy slices in [0, 1]: a disc of varying brightness plus noise, with a bright square if anomalous."""
  y, x = np.mgrid[:IMAGE_SIZE, :IMAGE_SIZE]
  disc = ((y - IMAGE_SIZE / 2) ** 2 + (x - IMAGE_SIZE / 2) ** 2 < (IMAGE_SIZE / 3) ** 2).astype(np.float32)
  images = 0.5 * disc * rng.uniform(0.8, 1.2, size=(n, 1, 1)) + rng.normal(0, 0.02, size=(n, IMAGE_SIZE, IMAGE_SIZE))
  if anomalous:
    for image, (top, left) in zip(images, rng.integers(2, IMAGE_SIZE - 6, size=(n, 2))):
      image[top:top + 4, left:left + 4] += 0.4
  return np.clip(images, 0, 1)[..., None].astype(np.float32)


def test_gda_score_is_the_negative_log_density_of_the_ridged_gaussian():
  rng = np.random.default_rng(0)
  train = _blobs(rng, 200)
  covariance = np.cov(train.astype(np.float64), rowvar=False)
  covariance += shallow.GDA_RIDGE * np.trace(covariance) / N_FEATURES * np.eye(N_FEATURES)
  features = _held_out(rng)
  expected = -multivariate_normal(train.astype(np.float64).mean(axis=0), covariance).logpdf(features)
  scores = jax.jit(shallow.gda_score)(shallow.fit_gda(train, seed=0), features)
  np.testing.assert_allclose(np.asarray(scores), expected, rtol=1e-4)


def test_isolation_forest_score_equals_sklearn_score_samples():
  rng = np.random.default_rng(1)
  train, features = _blobs(rng, 300), _held_out(rng)
  forest = IsolationForest(random_state=3).fit(train)
  scores = jax.jit(shallow.isolation_forest_score)(shallow.fit_isolation_forest(train, seed=3), features)
  np.testing.assert_allclose(np.asarray(scores), -forest.score_samples(features), rtol=0, atol=1e-5)


def test_isolation_forest_splits_float32_features_on_the_thresholds_exactly_as_sklearn():
  # A feature equal to a float64 threshold rounded to float32 lands on the side sklearn sends it to,
  # even where rounding to nearest moved the threshold above the feature.
  rng = np.random.default_rng(2)
  train = _blobs(rng, 100)
  forest = IsolationForest(random_state=0).fit(train)
  tree = forest.estimators_[0].tree_
  split = np.flatnonzero(tree.children_left >= 0)
  features = np.repeat(train[:1], len(split), axis=0)
  features[np.arange(len(split)), tree.feature[split]] = tree.threshold[split].astype(np.float32)
  scores = shallow.isolation_forest_score(shallow.fit_isolation_forest(train, seed=0), features)
  np.testing.assert_allclose(np.asarray(scores), -forest.score_samples(features), rtol=0, atol=1e-5)


def test_ocsvm_score_equals_sklearn_decision_function():
  rng = np.random.default_rng(3)
  train, features = _blobs(rng, 200), _held_out(rng)
  svm = OneClassSVM(kernel="rbf", gamma="scale").fit(train)
  scores = jax.jit(shallow.ocsvm_score)(shallow.fit_ocsvm(train, seed=0), features)
  np.testing.assert_allclose(np.asarray(scores), -svm.decision_function(features), rtol=0, atol=1e-4)


@pytest.mark.parametrize("method", sorted(shallow.SHALLOW_DETECTORS))
def test_each_detector_scores_shifted_features_higher(method):
  rng = np.random.default_rng(4)
  fit, score = shallow.SHALLOW_DETECTORS[method]
  params = fit(_blobs(rng, 200), 0)
  features = np.concatenate([_blobs(rng, 100), _blobs(rng, 100, 2.5)])
  labels = np.repeat([0, 1], 100)
  assert roc_auc_score(labels, np.asarray(score(params, features))) > 0.9


def test_pca_features_are_standardised_on_orthonormal_components():
  images = _slices(np.random.default_rng(5), 40)
  pca = fit_pca(images, n_components=8)
  components = pca["components"]
  assert components.shape == (8, IMAGE_SIZE * IMAGE_SIZE) and pca["mean"].shape == (IMAGE_SIZE * IMAGE_SIZE,)
  np.testing.assert_allclose(components @ components.T, np.eye(8), atol=1e-5)
  features = np.asarray(project(pca, images))
  np.testing.assert_allclose(features.mean(axis=0), 0, atol=1e-4)
  np.testing.assert_allclose(features.std(axis=0), 1, atol=1e-3)


def test_deviation_map_is_zero_for_the_mean_slice_and_highlights_the_anomaly():
  rng = np.random.default_rng(6)
  pca = fit_pca(_slices(rng, 40), n_components=8)
  mean_slice = pca["mean"].reshape(1, IMAGE_SIZE, IMAGE_SIZE, 1)
  anomalous = _slices(rng, 4, anomalous=True)
  heatmaps = np.asarray(deviation_map(pca, np.concatenate([mean_slice, anomalous])))
  assert heatmaps.shape == (5, IMAGE_SIZE, IMAGE_SIZE)
  np.testing.assert_array_equal(heatmaps[0], 0)
  assert np.all(heatmaps[1:].max(axis=(1, 2)) > 0)


def test_pca_keeps_at_most_one_component_fewer_than_slices():
  pca = fit_pca(_slices(np.random.default_rng(7), 5), n_components=50)
  assert pca["components"].shape[0] == 4 and pca["scale"].shape == (4,)


def test_pca_refuses_too_few_slices_or_components():
  images = _slices(np.random.default_rng(8), 5)
  with pytest.raises(ValueError, match="at least 2 normal training slices"):
    fit_pca(images[:1], n_components=4)
  with pytest.raises(ValueError, match="detect.pca_components"):
    fit_pca(images, n_components=0)


def test_an_unknown_method_names_the_known_ones():
  with pytest.raises(ValueError, match="isolation_forest"):
    shallow.feature_detector_outputs("lof")


@pytest.mark.parametrize("method", sorted(shallow.SHALLOW_DETECTORS))
def test_feature_detector_jits_exports_with_a_symbolic_batch_and_survives_msgpack(method):
  rng = np.random.default_rng(9)
  variables = shallow.fit_feature_detector(method, _slices(rng, 60), n_components=6, seed=0)
  outputs = shallow.feature_detector_outputs(method)
  images = np.concatenate([_slices(rng, 20), _slices(rng, 20, anomalous=True)])
  scores, heatmaps = jax.jit(outputs)(variables, images)
  assert scores.shape == (40,) and heatmaps.shape == (40, IMAGE_SIZE, IMAGE_SIZE)
  assert roc_auc_score(np.repeat([0, 1], 20), np.asarray(scores)) > 0.9

  batch = jax.ShapeDtypeStruct(jax.export.symbolic_shape(f"b, {IMAGE_SIZE}, {IMAGE_SIZE}, 1"), jnp.float32)
  exported = jax.export.export(jax.jit(lambda x: outputs(variables, x)), platforms=["cpu"])(batch)
  restored = jax.export.deserialize(exported.serialize())
  for n in (3, 5):
    exported_scores, exported_heatmaps = restored.call(images[:n])
    np.testing.assert_allclose(np.asarray(exported_scores), np.asarray(scores[:n]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(exported_heatmaps), np.asarray(heatmaps[:n]), rtol=1e-5, atol=1e-5)

  loaded = serialization.msgpack_restore(serialization.msgpack_serialize(variables))
  np.testing.assert_array_equal(np.asarray(jax.jit(outputs)(loaded, images)[0]), np.asarray(scores))
