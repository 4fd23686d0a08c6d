"""Attention modules of the encoder: CBAM (Woo et al. 2018) and the Learn-To-Pay-Attention gate.

Both expose their spatial attention maps, the model's explanation heatmaps, through
`self.sow('intermediates', ...)`: apply with `mutable=['intermediates']` and pass the returned
collection to `attention_maps`.
"""

from collections.abc import Mapping
from typing import Any

import flax.linen as nn
from flax import traverse_util
import jax
import jax.numpy as jnp

CBAM_REDUCTION = 8
MIN_HIDDEN_UNITS = 4
SPATIAL_KERNEL = (7, 7)
MAP_SUFFIX = "_attention"  # every sown attention map's name ends with it


def _sow_map(module: nn.Module, name: str, attention: jax.Array) -> None:
  """Records an attention map in float32, whatever the compute dtype, for heatmap consumers."""
  module.sow("intermediates", name, attention.astype(jnp.float32))


class ChannelAttention(nn.Module):
  """Reweights channels by sigmoid(MLP(avg-pool) + MLP(max-pool)) with one shared MLP."""

  reduction: int = CBAM_REDUCTION
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    # Shared MLP: the same two layers see both descriptors.
    hidden = nn.Dense(max(channels // self.reduction, MIN_HIDDEN_UNITS), dtype=self.dtype, name="hidden")
    out = nn.Dense(channels, dtype=self.dtype, name="out")
    mlp = lambda descriptor: out(nn.relu(hidden(descriptor)))
    logits = mlp(jnp.mean(x, axis=(1, 2))) + mlp(jnp.max(x, axis=(1, 2)))
    return x * nn.sigmoid(logits)[:, None, None, :]


class SpatialAttention(nn.Module):
  """Reweights positions by sigmoid(conv7x7([mean over C, max over C])); sows the map."""

  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    pooled = jnp.concatenate([jnp.mean(x, axis=-1, keepdims=True), jnp.max(x, axis=-1, keepdims=True)], axis=-1)
    attention = nn.sigmoid(nn.Conv(1, SPATIAL_KERNEL, padding="SAME", use_bias=False, dtype=self.dtype, name="conv")(pooled))
    _sow_map(self, "spatial_attention", attention)
    return x * attention


class CBAM(nn.Module):
  """Convolutional Block Attention Module: channel attention, then spatial attention."""

  reduction: int = CBAM_REDUCTION
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = ChannelAttention(self.reduction, dtype=self.dtype, name="channel")(x)
    return SpatialAttention(dtype=self.dtype, name="spatial")(x)


class AttentionGate(nn.Module):
  """Learn-To-Pay-Attention gates (Jetley et al. 2018) with sigmoid compatibility, METHOD.md §2.

  For local feature maps l_i (projected to the global width where they differ) and a global
  vector g = Dense(flat_global): a_i = sigmoid(Conv1x1(l_i + g)), g_i = mean_HW(a_i * l_i).
  Returns concat(g_1, ..., g_k); sows each a_i as 'gate<i>_attention'.
  """

  features: int = 128
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, local_maps: tuple[jax.Array, ...], flat_global: jax.Array) -> jax.Array:
    g = nn.Dense(self.features, dtype=self.dtype, name="global")(flat_global)[:, None, None, :]
    pooled = []
    for i, local in enumerate(local_maps):
      if local.shape[-1] != self.features:
        local = nn.Conv(self.features, (1, 1), dtype=self.dtype, name=f"project{i + 1}")(local)
      attention = nn.sigmoid(nn.Conv(1, (1, 1), dtype=self.dtype, name=f"compatibility{i + 1}")(local + g))
      _sow_map(self, f"gate{i + 1}_attention", attention)
      pooled.append(jnp.mean(attention * local, axis=(1, 2)))
    return jnp.concatenate(pooled, axis=-1)


def attention_maps(intermediates: Mapping[str, Any]) -> dict[str, jax.Array]:
  """The sown maps of an 'intermediates' collection as {'path/to/module/name': (N, H, W, 1) array}.

  A module applied k > 1 times in one call sows k maps, keyed 'name[0]' .. 'name[k-1]'.
  """
  maps = {}
  for path, sown in traverse_util.flatten_dict(dict(intermediates)).items():
    if not path[-1].endswith(MAP_SUFFIX):
      continue
    key = "/".join(path)
    if len(sown) == 1:
      maps[key] = sown[0]
    else:
      maps.update({f"{key}[{i}]": m for i, m in enumerate(sown)})
  return maps
