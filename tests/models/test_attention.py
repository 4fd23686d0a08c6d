"""CBAM and the attention gate against independent NumPy implementations; maps lie in [0, 1]."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancbam_jax.models import CBAM, VARIANTS, AttentionGate, attention_maps

from model_testing import autoencoder_training_pass

TOLERANCE = 1e-5


def sigmoid(x: np.ndarray) -> np.ndarray:
  return 1 / (1 + np.exp(-x))


def cross_correlate_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
  """Stride-1 SAME cross-correlation, (N, H, W, C_in) with (k, k, C_in, C_out), by explicit loops over taps."""
  k = kernel.shape[0]
  _, h, w, _ = x.shape
  padded = np.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
  out = 0
  for dy in range(k):
    for dx in range(k):
      out = out + padded[:, dy:dy + h, dx:dx + w, :] @ kernel[dy, dx]
  return out


def dense(x: np.ndarray, params) -> np.ndarray:
  return x @ np.asarray(params["kernel"], np.float64) + np.asarray(params["bias"], np.float64)


def cbam_reference(x: np.ndarray, params) -> tuple[np.ndarray, np.ndarray]:
  """CBAM (Woo et al. 2018) in float64 NumPy from Flax parameters: (output, spatial map)."""
  channel = params["channel"]
  mlp = lambda d: dense(np.maximum(dense(d, channel["hidden"]), 0), channel["out"])
  x = x * sigmoid(mlp(x.mean(axis=(1, 2))) + mlp(x.max(axis=(1, 2))))[:, None, None, :]
  pooled = np.concatenate([x.mean(axis=-1, keepdims=True), x.max(axis=-1, keepdims=True)], axis=-1)
  spatial_map = sigmoid(cross_correlate_same(pooled, np.asarray(params["spatial"]["conv"]["kernel"], np.float64)))
  return x * spatial_map, spatial_map


def gate_reference(local_maps, flat_global: np.ndarray, params) -> tuple[np.ndarray, list[np.ndarray]]:
  """The Learn-To-Pay-Attention gate with sigmoid compatibility in float64 NumPy: (pooled, maps)."""
  g = dense(flat_global, params["global"])[:, None, None, :]
  pooled, maps = [], []
  for i, local in enumerate(local_maps, start=1):
    if f"project{i}" in params:
      local = cross_correlate_same(local, np.asarray(params[f"project{i}"]["kernel"], np.float64)) + np.asarray(params[f"project{i}"]["bias"])
    compatibility = params[f"compatibility{i}"]
    a = sigmoid(cross_correlate_same(local + g, np.asarray(compatibility["kernel"], np.float64)) + np.asarray(compatibility["bias"]))
    maps.append(a)
    pooled.append((a * local).mean(axis=(1, 2)))
  return np.concatenate(pooled, axis=-1), maps


@pytest.mark.parametrize("shape", [(2, 32, 32, 64), (2, 4, 4, 128), (3, 9, 7, 16)])
def test_cbam_matches_numpy_reference(shape):
  x = jax.random.normal(jax.random.key(0), shape)
  cbam = CBAM()
  variables = cbam.init(jax.random.key(1), x)
  # Random, not zero, biases so that the reference checks where they enter.
  params = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.key(2), p.shape), variables["params"])
  assert params["channel"]["hidden"]["kernel"].shape == (shape[-1], max(shape[-1] // 8, 4))
  y, state = jax.jit(lambda p, x: cbam.apply({"params": p}, x, mutable=["intermediates"]))(params, x)
  expected, expected_map = cbam_reference(np.asarray(x, np.float64), params)
  np.testing.assert_allclose(y, expected, atol=TOLERANCE, rtol=TOLERANCE)
  (spatial_map,) = attention_maps(state["intermediates"]).values()
  assert spatial_map.shape == shape[:3] + (1,)
  np.testing.assert_allclose(spatial_map, expected_map, atol=TOLERANCE, rtol=TOLERANCE)


def test_attention_gate_matches_numpy_reference():
  keys = jax.random.split(jax.random.key(0), 3)
  local_maps = (jax.random.normal(keys[0], (2, 32, 32, 64)), jax.random.normal(keys[1], (2, 8, 8, 128)))
  flat_global = jax.random.normal(keys[2], (2, 2048))
  gate = AttentionGate(128)
  variables = gate.init(jax.random.key(1), local_maps, flat_global)
  params = jax.tree.map(lambda p: p + 0.05 * jax.random.normal(jax.random.key(2), p.shape), variables["params"])
  pooled, state = gate.apply({"params": params}, local_maps, flat_global, mutable=["intermediates"])
  as_numpy = lambda a: np.asarray(a, np.float64)
  expected, expected_maps = gate_reference([as_numpy(m) for m in local_maps], as_numpy(flat_global), params)
  assert pooled.shape == (2, 256)
  np.testing.assert_allclose(pooled, expected, atol=TOLERANCE, rtol=TOLERANCE)
  maps = attention_maps(state["intermediates"])
  for got, want in zip(maps.values(), expected_maps, strict=True):
    np.testing.assert_allclose(got, want, atol=TOLERANCE, rtol=TOLERANCE)


@pytest.mark.parametrize("image_size", [64, 128])
@pytest.mark.parametrize("variant", VARIANTS)
def test_models_expose_attention_maps_in_unit_interval(variant, image_size):
  maps = autoencoder_training_pass(variant, image_size)["maps"]
  expected_shapes = {
      "baseline": {},
      "cbam": {"encoder/trunk/cbam_b2/spatial/spatial_attention": (2, 32, 32, 1),
               "encoder/trunk/cbam_b5/spatial/spatial_attention": (2, 4, 4, 1)},
      "attention_gate": {"encoder/trunk/gate/gate1_attention": (2, 32, 32, 1),
                         "encoder/trunk/gate/gate2_attention": (2, 8, 8, 1)},
  }[variant]
  assert {name: m.shape for name, m in maps.items()} == expected_shapes
  for m in maps.values():
    assert m.dtype == jnp.float32
    assert jnp.all((m >= 0) & (m <= 1))
