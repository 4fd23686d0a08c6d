"""The outside peer: a scikit-learn random forest on the pixels, trained on the run's own training split.

The simple supervised baseline every result is put beside: 300 trees with balanced class
weights on the raw normalised pixels of the real training slices, the same (thinned) split the
classifier learns from, without synthetic slices or augmentation. If a deep model loses to it on
the same folds, the deep model has a bug or a missing idea. scikit-learn fits it; its trees are
flattened into node arrays (trees.py) so that it is scored in JAX and jitted, timed and exported
like every other detector. Score: the forest's probability of the anomalous class, as
`predict_proba` gives it (the mean over trees of each leaf's class share). Heatmap: each pixel's
impurity importance to the forest times the slice's deviation from the mean training slice,
where the forest looks and this slice differs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.ensemble import RandomForestClassifier

from gancbam_jax.detect import trees

FOREST_HEATMAP = "pixel importance to the forest times the deviation from the mean training slice"


def balanced_forest(n_trees: int, seed: int) -> RandomForestClassifier:
  """The peer's scikit-learn forest, unfitted: `n_trees` trees, class weights balanced."""
  return RandomForestClassifier(n_trees, class_weight="balanced", random_state=seed)


def fit_random_forest(images: np.ndarray, anomalous: np.ndarray, n_trees: int, seed: int) -> dict[str, np.ndarray]:
  """A balanced random forest of (N, S, S, C) training slices and 0/1 labels, as node arrays.

  Returns trees.tree_arrays (trees, nodes) plus 'anomalous_share' (each node's weighted share of
  anomalous training slices), 'max_depth', the pixel 'importance' (S, S) and the 'mean_slice'.

  Raises:
    ValueError: the labels hold one class only.
  """
  if len(np.unique(anomalous)) != 2:
    raise ValueError("a random forest needs normal and anomalous training slices; the training split holds one class")
  pixels = np.asarray(images, np.float32).reshape(len(images), -1)
  forest = balanced_forest(n_trees, seed).fit(pixels, anomalous)
  n_nodes = max(estimator.tree_.node_count for estimator in forest.estimators_)
  all_pixels = np.arange(pixels.shape[1])
  per_tree = []
  for estimator in forest.estimators_:
    value = estimator.tree_.value[:, 0, :]  # (nodes, classes): weighted counts or shares, by sklearn version
    share = value[:, 1] / value.sum(axis=1)
    per_tree.append({**trees.tree_arrays(estimator.tree_, all_pixels, n_nodes),
                     "anomalous_share": trees.pad_nodes(share, n_nodes).astype(np.float32)})
  return {**trees.stack_trees(per_tree), "max_depth": trees.max_depth(forest.estimators_),
          "importance": forest.feature_importances_.reshape(images.shape[1:]).sum(axis=-1).astype(np.float32),
          "mean_slice": images.mean(axis=0).astype(np.float32)}


def forest_outputs(forest: dict, images: jax.Array) -> tuple[jax.Array, jax.Array]:
  """p(anomalous) (N,) as sklearn's predict_proba, and the importance-weighted deviation heatmaps (N, S, S)."""
  leaves = trees.reached_leaves(forest, jnp.reshape(images, (images.shape[0], -1)).astype(jnp.float32))
  scores = jnp.mean(trees.at_nodes(forest, "anomalous_share", leaves), axis=0)
  deviation = jnp.sum(jnp.abs(images - forest["mean_slice"]), axis=-1)
  return scores, deviation * forest["importance"]
