"""Upsampling by 2: a 4x4 stride-2 transposed conv, computed directly or in sub-pixel form.

Both forms compute the PyTorch `ConvTranspose2d(kernel_size=4, stride=2, padding=1)` map (output
exactly twice the input) from the same parameters, a `kernel` of shape (4, 4, C_in, C_out) and a
`bias` of shape (C_out,), so the choice of form changes speed, never the model or its checkpoints.

Kernel convention (Flax's `nn.ConvTranspose` with `transpose_kernel=False`): the input is dilated
by 2, padded by 2 on each side and cross-correlated with `kernel`. A PyTorch weight `w` of shape
(C_in, C_out, 4, 4) corresponds to `kernel = w.transpose(2, 3, 0, 1)[::-1, ::-1]`.

Sub-pixel form: output pixel (2a + p, 2b + q) sees two input rows and two input columns and two
kernel taps per axis, so each of the 4 phases (p, q) is a 2x2 convolution of the input padded by
1. One 2x2 VALID convolution to 4 * C_out channels computes all four (each at (H + 1) x (W + 1)
positions, one more than it needs per axis), and interleaving them gives the transposed conv
exactly, with 4/9 of the multiply-adds of a 3x3 sub-pixel kernel (whose other 5 taps per phase
would be zeros).
On CPU its gradients are matrix products over the 2x2 windows, because XLA:CPU's kernel-gradient
convolution for a small kernel over a large image is several times slower than that product
(see benchmarks/upsampling.py); other platforms take XLA's convolution gradients.
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
# _PHASE_TAPS[p][d]: the kernel tap that output phase p applies at row d of its 2x2 window of the
# input padded by 1 (the same along columns). Each of the 4 taps serves exactly one phase.
_PHASE_TAPS = np.array([[0, 2], [1, 3]])
_WINDOW = 2
DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def phase_kernel(kernel: jax.Array) -> jax.Array:
  """Maps a (4, 4, C_in, C_out) transposed-conv kernel to the (2, 2, C_in, 4 * C_out) phase kernel.

  Output channel (2 * p + q) * C_out + o of the 2x2 conv is phase (p, q) of output channel o.
  Built by gathering (not by matrix products) so the mapping is exact in every precision.
  """
  rows = _PHASE_TAPS[:, :, None, None]  # (p, dy, 1, 1)
  cols = _PHASE_TAPS[None, None, :, :]  # (1, 1, q, dx)
  phased = kernel[rows, cols]  # (p, dy, q, dx, C_in, C_out)
  c_in, c_out = kernel.shape[2:]
  return phased.transpose(1, 3, 4, 0, 2, 5).reshape(_WINDOW, _WINDOW, c_in, 4 * c_out)


def interleave_phases(y: jax.Array) -> jax.Array:
  """(N, H + 1, W + 1, 4 * C) phase maps, channels ordered (p, q, c) -> (N, 2H, 2W, C).

  Phase (p, q) of output pixel (2a + p, 2b + q) sits at position (a + p, b + q) of its map.
  """
  n, h1, w1, c4 = y.shape
  h, w, c = h1 - 1, w1 - 1, c4 // 4
  y = y.reshape(n, h1, w1, 2, 2, c)
  rows = [jnp.stack([y[:, p:p + h, q:q + w, p, q, :] for q in range(2)], axis=3) for p in range(2)]
  return jnp.stack(rows, axis=2).reshape(n, 2 * h, 2 * w, c)


def _conv_2x2(xp: jax.Array, kernel: jax.Array) -> jax.Array:
  return jax.lax.conv_general_dilated(xp, kernel, (1, 1), "VALID", dimension_numbers=DIMENSIONS)


def _windows(xp: jax.Array, h: int, w: int) -> jax.Array:
  """The 2x2 windows of `xp` as (N, h, w, 4 * C), taps ordered (dy, dx, c) like a flattened kernel."""
  return jnp.concatenate([xp[:, dy:dy + h, dx:dx + w, :] for dy in range(_WINDOW) for dx in range(_WINDOW)], axis=-1)


def _conv_2x2_gradients_by_products(xp: jax.Array, kernel: jax.Array, g: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(d xp, d kernel) of `_conv_2x2` as matrix products over the 2x2 windows."""
  n, h, w, c_out = g.shape
  c_in = kernel.shape[2]
  flat_g = g.reshape(-1, c_out)
  d_kernel = (_windows(xp, h, w).reshape(-1, 4 * c_in).T @ flat_g).reshape(kernel.shape)
  d_windows = (flat_g @ kernel.reshape(4 * c_in, c_out).T).reshape(n, h, w, _WINDOW, _WINDOW, c_in)
  d_xp = jnp.zeros_like(xp)
  for dy in range(_WINDOW):
    for dx in range(_WINDOW):
      d_xp = d_xp.at[:, dy:dy + h, dx:dx + w, :].add(d_windows[:, :, :, dy, dx, :])
  return d_xp, d_kernel


def _conv_2x2_gradients_by_xla(xp: jax.Array, kernel: jax.Array, g: jax.Array) -> tuple[jax.Array, jax.Array]:
  return jax.vjp(_conv_2x2, xp, kernel)[1](g)


@jax.custom_vjp
def phase_conv(xp: jax.Array, kernel: jax.Array) -> jax.Array:
  """The 2x2 VALID convolution of the padded input that yields all four phase maps."""
  return _conv_2x2(xp, kernel)


def _phase_conv_forward(xp, kernel):
  return _conv_2x2(xp, kernel), (xp, kernel)


def _phase_conv_backward(residuals, g):
  xp, kernel = residuals
  return jax.lax.platform_dependent(xp, kernel, g, cpu=_conv_2x2_gradients_by_products,
                                    default=_conv_2x2_gradients_by_xla)


phase_conv.defvjp(_phase_conv_forward, _phase_conv_backward)


def transposed_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The 4x4 stride-2 transposed conv as XLA's dilated-input convolution (no bias)."""
  return jax.lax.conv_transpose(x, kernel, strides=(2, 2), padding=TRANSPOSE_PADDING, dimension_numbers=DIMENSIONS)


def subpixel_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The same map as `transposed_conv`, as one 2x2 conv to 4x the channels and an interleaving of the phases."""
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  return interleave_phases(phase_conv(xp, phase_kernel(kernel)))


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
