"""Autoencoder-to-GAN weight transfer (BAGAN): copies of parameter and batch-statistic subtrees.

The generator takes the autoencoder's decoder; the discriminator and the classifier take its
encoder trunk (B1..B5, attention, FC1, without the latent layer), or the classifier takes a
trained discriminator's trunk. Heads keep their fresh initialisation. Pure functions: inputs
are never mutated, and a structural mismatch (another variant, size or upsampling layout)
raises ValueError instead of copying garbage.
"""

from collections.abc import Mapping
from typing import Any

import jax

from gancbam_jax.models.variables import Variables

COLLECTIONS = ("params", "batch_stats")


def subtree(tree: Mapping[str, Any], path: tuple[str, ...]) -> Any:
  """The subtree of nested dicts at `path`."""
  for key in path:
    tree = tree[key]
  return tree


def check_same_layout(source: Any, target: Any, what: str) -> None:
  """Raises ValueError unless both trees have the same keys, shapes and dtypes."""
  shapes = lambda tree: jax.tree.map(lambda leaf: (leaf.shape, leaf.dtype), tree)
  if shapes(source) != shapes(target):
    raise ValueError(f"{what}: source and target differ in structure, shapes or dtypes")


def replace_subtree(tree: Mapping[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
  """A copy of `tree` (copied along `path` only) with the subtree at `path` replaced by `value`."""
  if not path:
    return value
  return {**tree, path[0]: replace_subtree(tree[path[0]], path[1:], value)}


def _graft(source: Variables, source_path: tuple[str, ...], target: Variables, target_path: tuple[str, ...]) -> Variables:
  """Target variables with every collection's subtree at `target_path` taken from `source_path`."""
  grafted = dict(target)
  for collection in COLLECTIONS:
    if collection not in target:
      continue
    # Fresh containers around the (immutable) source arrays: the result shares no dict with the inputs.
    copied = jax.tree.map(lambda leaf: leaf, subtree(source[collection], source_path))
    check_same_layout(copied, subtree(target[collection], target_path), f"{collection}/{'/'.join(target_path)}")
    grafted[collection] = replace_subtree(target[collection], target_path, copied)
  return grafted


def generator_from_autoencoder(autoencoder_variables: Variables, generator_variables: Variables) -> Variables:
  """Generator variables equal to the autoencoder's decoder, bit for bit."""
  return _graft(autoencoder_variables, ("decoder",), generator_variables, ())


def trunk_from_autoencoder(autoencoder_variables: Variables, classifier_variables: Variables) -> Variables:
  """Discriminator or classifier variables whose trunk is the autoencoder's encoder trunk; head kept."""
  return _graft(autoencoder_variables, ("encoder", "trunk"), classifier_variables, ("trunk",))


def trunk_from_discriminator(discriminator_variables: Variables, classifier_variables: Variables) -> Variables:
  """Classifier variables whose trunk is a trained discriminator's trunk; head kept."""
  return _graft(discriminator_variables, ("trunk",), classifier_variables, ("trunk",))
