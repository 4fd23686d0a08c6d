"""Batches drawn on the device and batched inference with a padded last batch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancbam_jax.batching import map_in_batches
from gancbam_jax.train import parallel
from gancbam_jax.train.batches import batching_note, draw_batch


def test_draw_batch_returns_distinct_matching_pairs():
  images = jnp.arange(50, dtype=jnp.float32).reshape(50, 1, 1, 1)
  labels = jnp.arange(50, dtype=jnp.int32)
  x, y = draw_batch(jax.random.key(0), images, labels, 32)
  np.testing.assert_array_equal(np.asarray(x).ravel(), np.asarray(y))
  assert len(np.unique(np.asarray(y))) == 32


def test_a_bootstrap_batch_fills_a_batch_larger_than_the_set():
  images = jnp.arange(5, dtype=jnp.float32).reshape(5, 1, 1, 1)
  labels = jnp.arange(5, dtype=jnp.int32)
  x, y = draw_batch(jax.random.key(0), images, labels, 32, bootstrap=True)
  np.testing.assert_array_equal(np.asarray(x).ravel(), np.asarray(y))
  assert y.shape == (32,) and set(np.asarray(y).tolist()) <= set(range(5))
  assert len(np.unique(np.asarray(y))) < 32  # drawn with replacement


def test_draw_batch_is_split_over_the_mesh():
  mesh = parallel.data_mesh(0)
  images = parallel.replicate(jnp.zeros((40, 2, 2, 1)), mesh)
  labels = parallel.replicate(jnp.zeros((40,), jnp.int32), mesh)
  x, _ = jax.jit(lambda k: draw_batch(k, images, labels, 8, parallel.batch_sharded(mesh)))(jax.random.key(1))
  assert x.sharding.is_equivalent_to(parallel.batch_sharded(mesh), x.ndim)
  assert len(x.addressable_shards) == len(jax.devices())


def test_map_in_batches_pads_the_last_batch_and_drops_the_padding():
  calls = []

  def double(x):
    calls.append(x.shape)
    return x * 2

  out = map_in_batches(double, np.arange(10, dtype=np.float32), batch_size=4)
  np.testing.assert_array_equal(out, np.arange(10) * 2)
  assert calls == [(4,), (4,), (4,)]


def test_batch_size_must_split_over_devices():
  mesh = parallel.data_mesh(0)
  n = mesh.devices.size
  parallel.check_batch_divisible(2 * n, mesh, "train.batch_size")
  with pytest.raises(ValueError, match=f"train.batch_size=.*multiple of {n}"):
    parallel.check_batch_divisible(2 * n + 1, mesh, "train.batch_size")


def test_a_mesh_larger_than_the_machine_is_refused():
  with pytest.raises(ValueError, match="train.num_devices"):
    parallel.data_mesh(len(jax.devices()) + 1)


def test_a_set_smaller_than_the_batch_fills_it_with_replacement_and_says_so():
  """The paper's 100 slices leave sets smaller than a batch (ACLAE-DT's normal slices, a thinned split)."""
  images = jnp.arange(7, dtype=jnp.float32).reshape(7, 1, 1, 1)
  labels = jnp.arange(7, dtype=jnp.int32)
  x, y = jax.jit(lambda k: draw_batch(k, images, labels, 8))(jax.random.key(0))
  np.testing.assert_array_equal(np.asarray(x).ravel(), np.asarray(y))
  assert y.shape == (8,) and set(np.asarray(y).tolist()) <= set(range(7))
  assert batching_note("normal training slices", 7, 8) == (
      "normal training slices: 7 slices, fewer than a batch of 8; each batch is drawn with replacement "
      "(train.batch_size sets the batch)")
  assert batching_note("training split", 8, 8) is None
