"""Classic anomaly detectors on PCA features of slices, as pure JAX scoring functions.

Each detector is fitted on the features of normal training slices with numpy or scikit-learn,
then turned into a dict of arrays (its variables, serialised like any network's) and a jnp
function `score(params, features) -> (N,)`, higher for more anomalous slices. Scoring in JAX
rather than calling scikit-learn lets evaluation jit, time and export these detectors exactly
like the neural ones:
  - gda: one full-covariance Gaussian (Dwivedi et al. 2021); score = -log p(x).
  - isolation_forest: scikit-learn's IsolationForest, its trees flattened into padded node
    arrays; score = -score_samples = 2 ** (-mean path length / c(max_samples)).
  - ocsvm: scikit-learn's one-class SVM with an RBF kernel; score = -decision_function.
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.svm import OneClassSVM

from gancbam_jax.detect import trees
from gancbam_jax.detect.slice_features import PRECISION, deviation_map, fit_pca, project
from gancbam_jax.train.gaussians import fit_class_gaussians

GDA_RIDGE = 1e-4  # as train.gaussian_ridge's default: the same regularisation as BAGAN's class Gaussians


def fit_gda(features: np.ndarray, seed: int) -> dict[str, np.ndarray]:
  """The Gaussian of normal features: mean (k,), whitening L^-1 (k, k) with L L^T = Sigma, log det Sigma."""
  del seed  # the maximum-likelihood fit is deterministic
  gaussian = fit_class_gaussians(features, np.zeros(len(features), np.int32), 1, GDA_RIDGE, ("normal",))
  cholesky = np.linalg.cholesky(gaussian.covariance[0].astype(np.float64))
  return {"mean": gaussian.mean[0],
          "whitening": np.linalg.inv(cholesky).astype(np.float32),
          "log_det": np.array(2.0 * np.sum(np.log(np.diag(cholesky))), np.float32)}


def gda_score(gaussian: dict, features: jax.Array) -> jax.Array:
  """-log N(features; mean, Sigma) = (squared Mahalanobis distance + log det Sigma + k log 2 pi) / 2."""
  whitened = jnp.matmul(features - gaussian["mean"], gaussian["whitening"].T, precision=PRECISION)
  return 0.5 * (jnp.sum(jnp.square(whitened), axis=1) + gaussian["log_det"] + features.shape[1] * math.log(2 * math.pi))


def average_path_length(n_samples: np.ndarray) -> np.ndarray:
  """c(n): the mean path length of an unsuccessful search in a binary search tree of n samples.

  Mirrors sklearn.ensemble._iforest._average_path_length, so the JAX forest reproduces score_samples.
  """
  n = np.asarray(n_samples, np.float64)
  harmonic = np.log(np.maximum(n - 1.0, 1.0)) + np.euler_gamma  # H(n - 1); the clamp only guards unused n <= 2
  return np.where(n <= 1, 0.0, np.where(n == 2, 1.0, 2.0 * harmonic - 2.0 * (n - 1.0) / n))


def fit_isolation_forest(features: np.ndarray, seed: int) -> dict[str, np.ndarray]:
  """scikit-learn's IsolationForest (defaults) fitted on normal features, as padded per-tree node arrays.

  Returns (trees, nodes) arrays of trees.tree_arrays plus 'path_length' (depth + c(samples in the
  node): the path length of a slice that ends there), the normaliser c(max_samples_) and
  'max_depth', the number of steps that brings every slice to a leaf.
  """
  features = np.asarray(features, np.float32)  # trees split float32 values, as sklearn's fit does
  forest = IsolationForest(random_state=seed).fit(features)
  n_nodes = max(estimator.tree_.node_count for estimator in forest.estimators_)
  # With every feature drawn, sklearn fits and scores each tree on all columns in their own order,
  # whatever permutation estimators_features_ records.
  subsampled = forest._max_features != features.shape[1]
  all_features = np.arange(features.shape[1])
  per_tree = []
  for estimator, tree_features in zip(forest.estimators_, forest.estimators_features_):
    tree = estimator.tree_
    path_length = trees.node_depths(tree) + average_path_length(tree.n_node_samples)
    per_tree.append({**trees.tree_arrays(tree, tree_features if subsampled else all_features, n_nodes),
                     "path_length": trees.pad_nodes(path_length, n_nodes).astype(np.float32)})
  return {**trees.stack_trees(per_tree), "normaliser": np.array(average_path_length(forest.max_samples_), np.float32),
          "max_depth": trees.max_depth(forest.estimators_)}


def isolation_forest_score(forest: dict, features: jax.Array) -> jax.Array:
  """-IsolationForest.score_samples: 2 ** (-mean path length over the trees / c(max_samples))."""
  leaves = trees.reached_leaves(forest, features)
  return jnp.exp2(-jnp.mean(trees.at_nodes(forest, "path_length", leaves), axis=0) / forest["normaliser"])


def fit_ocsvm(features: np.ndarray, seed: int) -> dict[str, np.ndarray]:
  """scikit-learn's one-class SVM (RBF kernel, gamma='scale', nu=0.5): support vectors, their weights, offset."""
  del seed  # libsvm's one-class solver is deterministic
  svm = OneClassSVM(kernel="rbf", gamma="scale").fit(features)
  return {"support_vectors": svm.support_vectors_.astype(np.float32), "dual_coef": svm.dual_coef_[0].astype(np.float32),
          "intercept": np.array(svm.intercept_[0], np.float32), "gamma": np.array(svm._gamma, np.float32)}


def ocsvm_score(svm: dict, features: jax.Array) -> jax.Array:
  """-OneClassSVM.decision_function: -(sum_i a_i exp(-gamma |sv_i - x|^2) + intercept)."""
  support_vectors = svm["support_vectors"]
  # |sv - x|^2 expanded into one matmul; clamped because rounding can make it slightly negative.
  squared_distances = (jnp.sum(jnp.square(features), axis=1)[:, None] + jnp.sum(jnp.square(support_vectors), axis=1)
                       - 2.0 * jnp.matmul(features, support_vectors.T, precision=PRECISION))
  kernel = jnp.exp(-svm["gamma"] * jnp.maximum(squared_distances, 0.0))
  return -(jnp.matmul(kernel, svm["dual_coef"], precision=PRECISION) + svm["intercept"])


Fit = Callable[[np.ndarray, int], dict]
Score = Callable[[dict, jax.Array], jax.Array]
SHALLOW_DETECTORS: dict[str, tuple[Fit, Score]] = {
    "gda": (fit_gda, gda_score),
    "isolation_forest": (fit_isolation_forest, isolation_forest_score),
    "ocsvm": (fit_ocsvm, ocsvm_score),
}


def _shallow_detector(method: str) -> tuple[Fit, Score]:
  if method not in SHALLOW_DETECTORS:
    raise ValueError(f"unknown feature detector {method!r}; expected one of {sorted(SHALLOW_DETECTORS)}")
  return SHALLOW_DETECTORS[method]


def fit_feature_detector(method: str, normal_train_images: np.ndarray, n_components: int, seed: int) -> dict:
  """Variables {'pca', 'model'} of detector `method` fitted on (N, S, S, C) normal training slices.

  Raises:
    ValueError: an unknown method, n_components < 1 or fewer than 2 slices.
  """
  fit, _ = _shallow_detector(method)
  pca = fit_pca(normal_train_images, n_components)
  # The same projection as at scoring time, so the model is fitted on exactly the features it will see.
  features = np.asarray(project(pca, jnp.asarray(normal_train_images, jnp.float32)))
  return {"pca": pca, "model": fit(features, seed)}


def _feature_detector_outputs(score: Score, variables: dict, images: jax.Array) -> tuple[jax.Array, jax.Array]:
  scores = score(variables["model"], project(variables["pca"], images))
  return scores, deviation_map(variables["pca"], images)


def feature_detector_outputs(method: str) -> Callable[[dict, jax.Array], tuple[jax.Array, jax.Array]]:
  """Pure `outputs(variables, images)` -> (scores (N,), heatmaps (N, S, S)) of a fitted feature detector."""
  _, score = _shallow_detector(method)
  return functools.partial(_feature_detector_outputs, score)
