"""Upsampling by 2: a 4x4 stride-2 transposed conv, computed directly or in sub-pixel form.

Both forms compute the PyTorch `ConvTranspose2d(kernel_size=4, stride=2, padding=1)` map (output
exactly twice the input) from the same parameters, a `kernel` of shape (4, 4, C_in, C_out) and a
`bias` of shape (C_out,), so the choice of form changes speed, never the model or its checkpoints.

Kernel convention (Flax's `nn.ConvTranspose` with `transpose_kernel=False`): the input is dilated
by 2, padded by 2 on each side and cross-correlated with `kernel`. A PyTorch weight `w` of shape
(C_in, C_out, 4, 4) corresponds to `kernel = w.transpose(2, 3, 0, 1)[::-1, ::-1]`.

Sub-pixel form: output pixel (2a + p, 2b + q) sees only input rows a-1..a+1 and two kernel taps
per axis, so each of the 4 phases (p, q) is a 3x3 SAME conv of the input; stacking the phases as
4 * C_out channels and shuffling depth to space gives the transposed conv exactly. XLA on CPU runs
this regular conv much faster than the dilated-input transposed conv (see benchmarks/upsampling.py).
"""

from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

UpsampleMethod = Literal["subpixel", "transpose"]
UPSAMPLE_METHODS = ("subpixel", "transpose")
DEFAULT_UPSAMPLE: UpsampleMethod = "subpixel"

KERNEL_SIZE = 4
# Padding of the dilated input that turns a 4x4 stride-2 transposed conv into exact 2x upsampling:
# PyTorch's padding 1 becomes kernel_size - 1 - 1 = 2 here.
TRANSPOSE_PADDING = ((2, 2), (2, 2))
# _PHASE_TAPS[p][d]: the kernel tap that output phase p applies at input offset d - 1 along one
# axis; 4 points at an appended zero tap (that offset does not contribute to that phase).
_PHASE_TAPS = np.array([[0, 2, 4], [4, 1, 3]])


def subpixel_kernel(kernel: jax.Array) -> jax.Array:
  """Maps a (4, 4, C_in, C_out) transposed-conv kernel to the (3, 3, C_in, 4 * C_out) sub-pixel kernel.

  Output channel (2 * p + q) * C_out + o of the 3x3 conv is phase (p, q) of output channel o.
  Built by gathering (not by matrix products) so the mapping is exact in every precision.
  """
  padded = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))
  rows = _PHASE_TAPS[:, :, None, None]  # (p, dy, 1, 1)
  cols = _PHASE_TAPS[None, None, :, :]  # (1, 1, q, dx)
  phased = padded[rows, cols]  # (p, dy, q, dx, C_in, C_out)
  c_in, c_out = kernel.shape[2:]
  return phased.transpose(1, 3, 4, 0, 2, 5).reshape(3, 3, c_in, 4 * c_out)


def depth_to_space(x: jax.Array) -> jax.Array:
  """Rearranges (N, H, W, 4 * C) with channel order (p, q, c) into (N, 2H, 2W, C)."""
  n, h, w, c4 = x.shape
  c = c4 // 4
  x = x.reshape(n, h, w, 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, 2 * h, 2 * w, c)


def transposed_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The 4x4 stride-2 transposed conv as XLA's dilated-input convolution (no bias)."""
  return jax.lax.conv_transpose(
      x, kernel, strides=(2, 2), padding=TRANSPOSE_PADDING,
      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def subpixel_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The same map as `transposed_conv`, as a 3x3 conv to 4x the channels and depth-to-space."""
  phases = jax.lax.conv_general_dilated(
      x, subpixel_kernel(kernel), window_strides=(1, 1), padding=((1, 1), (1, 1)),
      dimension_numbers=("NHWC", "HWIO", "NHWC"))
  return depth_to_space(phases)


class Upsample2x(nn.Module):
  """Doubles height and width with a learned 4x4 stride-2 transposed conv.

  `method` picks the computation ('subpixel' or 'transpose'); the parameters are the same.
  """

  features: int
  use_bias: bool = True
  method: UpsampleMethod = DEFAULT_UPSAMPLE
  dtype: jnp.dtype = jnp.float32
  param_dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if self.method not in UPSAMPLE_METHODS:
      raise ValueError(f"unknown upsample method {self.method!r}; expected one of {UPSAMPLE_METHODS}")
    kernel = self.param(
        "kernel", nn.initializers.lecun_normal(),
        (KERNEL_SIZE, KERNEL_SIZE, x.shape[-1], self.features), self.param_dtype)
    bias = self.param("bias", nn.initializers.zeros, (self.features,), self.param_dtype) if self.use_bias else None
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    conv = subpixel_conv if self.method == "subpixel" else transposed_conv
    y = conv(x, kernel)
    return y + bias if bias is not None else y
