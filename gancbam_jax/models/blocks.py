"""Conv and upsampling blocks (layer, BatchNorm, LeakyReLU 0.2) shared by encoder and decoder."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from gancbam_jax.models.upsampling import DEFAULT_UPSAMPLE, Upsample2x, UpsampleMethod

# Momentum 0.9, not Flax's 0.99: an epoch of a 100-image set is ~5 steps, and 0.99 would leave
# the running statistics wrong for hundreds of steps (METHOD.md §2).
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
LEAKY_SLOPE = 0.2
# Padding 1: halves even sizes with a 4x4 stride-2 kernel, keeps them with a 3x3 stride-1 kernel.
PADDING = ((1, 1), (1, 1))


def normalize_and_activate(x: jax.Array, train: bool, dtype: jnp.dtype) -> jax.Array:
  """BatchNorm (batch statistics and running averages in float32) then LeakyReLU 0.2."""
  x = nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, dtype=dtype, name="bn")(x)
  return nn.leaky_relu(x, LEAKY_SLOPE)


class ConvBlock(nn.Module):
  """Conv with padding 1 (no bias: BatchNorm's shift replaces it), BatchNorm, LeakyReLU 0.2."""

  features: int
  kernel_size: tuple[int, int] = (4, 4)
  strides: tuple[int, int] = (2, 2)
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    x = nn.Conv(self.features, self.kernel_size, self.strides, padding=PADDING, use_bias=False, dtype=self.dtype, name="conv")(x)
    return normalize_and_activate(x, train, self.dtype)


class UpBlock(nn.Module):
  """Upsampling by 2 (no bias), BatchNorm, LeakyReLU 0.2."""

  features: int
  upsample: UpsampleMethod = DEFAULT_UPSAMPLE
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    x = Upsample2x(self.features, use_bias=False, method=self.upsample, dtype=self.dtype, name="up")(x)
    return normalize_and_activate(x, train, self.dtype)
