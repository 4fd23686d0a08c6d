"""scikit-learn decision trees as padded node arrays, and their descent in JAX.

A fitted forest's trees become arrays (trees, nodes): the input column each node tests, its
threshold and its two children, with leaves (and the padding up to the largest tree) their own
children. `reached_leaves` then walks every slice down every tree in `max_depth` vectorised
steps, so a forest scores inside jit, on any device and in an export, with no scikit-learn at
inference. The isolation forest and the random forest store what a leaf means beside these.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def node_depths(tree) -> np.ndarray:
  """Depth of every node of a fitted sklearn tree (root 0), one level at a time."""
  depths = np.zeros(tree.node_count, np.int64)
  level, depth = np.array([0]), 0
  while level.size:
    depths[level] = depth
    children = np.concatenate([tree.children_left[level], tree.children_right[level]])
    level, depth = children[children >= 0], depth + 1
  return depths


def pad_nodes(values: np.ndarray, n_nodes: int) -> np.ndarray:
  """Per-node values of one tree padded with zeros (along the first axis) to `n_nodes`."""
  return np.pad(values, [(0, n_nodes - len(values))] + [(0, 0)] * (values.ndim - 1))


def tree_arrays(tree, input_features: np.ndarray, n_nodes: int) -> dict[str, np.ndarray]:
  """One tree's 'feature', 'threshold', 'children_left', 'children_right', padded to `n_nodes`.

  `input_features[j]` is the input column the tree's feature j is (trees fitted on a subset of columns).
  """
  node = np.arange(n_nodes)
  is_leaf = pad_nodes(tree.children_left < 0, n_nodes) | (node >= tree.node_count)
  # sklearn compares float32 features with float64 thresholds; for a float32 x, x <= t exactly when x
  # is <= the largest float32 not above t, so rounding down keeps every split where sklearn puts it.
  threshold = pad_nodes(tree.threshold, n_nodes)
  threshold32 = threshold.astype(np.float32)
  threshold32 = np.where(threshold32 > threshold, np.nextafter(threshold32, np.float32(-np.inf)), threshold32)
  return {"feature": input_features[np.where(is_leaf, 0, pad_nodes(tree.feature, n_nodes))].astype(np.int32),
          "threshold": threshold32,
          "children_left": np.where(is_leaf, node, pad_nodes(tree.children_left, n_nodes)).astype(np.int32),
          "children_right": np.where(is_leaf, node, pad_nodes(tree.children_right, n_nodes)).astype(np.int32)}


def stack_trees(per_tree: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
  """Per-tree arrays stacked into (trees, nodes, ...) arrays."""
  return {name: np.stack([tree[name] for tree in per_tree]) for name in per_tree[0]}


def max_depth(estimators) -> np.ndarray:
  """The number of descent steps that brings every slice to a leaf in every tree."""
  return np.array(max(int(node_depths(e.tree_).max()) for e in estimators), np.int32)


def at_nodes(forest: dict, name: str, nodes: jax.Array) -> jax.Array:
  """forest[name] at each tree's node: (trees, N) node indices -> (trees, N) values."""
  return jnp.take_along_axis(forest[name], nodes, axis=1)


def reached_leaves(forest: dict, features: jax.Array) -> jax.Array:
  """The leaf (trees, N) each slice's features (N, D) reach in each tree."""
  features = jnp.asarray(features)  # indexed with traced node arrays, which a numpy array cannot be
  samples = jnp.arange(features.shape[0])

  def descend(_, nodes: jax.Array) -> jax.Array:  # nodes (trees, N); a leaf stays where it is
    goes_left = features[samples, at_nodes(forest, "feature", nodes)] <= at_nodes(forest, "threshold", nodes)
    return jnp.where(goes_left, at_nodes(forest, "children_left", nodes), at_nodes(forest, "children_right", nodes))

  roots = jnp.zeros((forest["feature"].shape[0], features.shape[0]), jnp.int32)
  return jax.lax.fori_loop(0, forest["max_depth"], descend, roots)
