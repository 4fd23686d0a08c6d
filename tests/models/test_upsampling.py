"""Upsampling by 2: PyTorch semantics of the transposed conv, and sub-pixel == transposed, gradients too."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancbam_jax.models import Decoder, Upsample2x, init_variables, interleave_phases, phase_kernel
from gancbam_jax.models import upsampling
from gancbam_jax.models.upsampling import TRANSPOSE_PADDING, subpixel_conv, transposed_conv

from model_testing import BATCH, LATENT_DIM

TOLERANCE = 1e-5


def torch_conv_transpose(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int = 2, padding: int = 1) -> np.ndarray:
  """PyTorch ConvTranspose2d by its definition: each input pixel scatters weight-scaled copies.

  x: (N, H, W, C_in); weight in PyTorch layout (C_in, C_out, k, k).
  """
  n, h, w, _ = x.shape
  c_out, k = weight.shape[1], weight.shape[2]
  full = np.zeros((n, (h - 1) * stride + k, (w - 1) * stride + k, c_out))
  for i in range(h):
    for j in range(w):
      full[:, i * stride:i * stride + k, j * stride:j * stride + k, :] += np.einsum("nc,coyx->nyxo", x[:, i, j, :], weight)
  out_h, out_w = (h - 1) * stride + k - 2 * padding, (w - 1) * stride + k - 2 * padding
  return full[:, padding:padding + out_h, padding:padding + out_w, :] + bias


def flax_kernel(torch_weight: np.ndarray) -> np.ndarray:
  """The (4, 4, C_in, C_out) kernel of this package for a PyTorch (C_in, C_out, 4, 4) weight."""
  return torch_weight.transpose(2, 3, 0, 1)[::-1, ::-1]


@pytest.fixture(scope="module")
def layer_case():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(BATCH, 5, 6, 3))
  weight = rng.normal(size=(3, 7, 4, 4)) / 4
  bias = rng.normal(size=(7,))
  params = {"kernel": jnp.asarray(flax_kernel(weight), jnp.float32), "bias": jnp.asarray(bias, jnp.float32)}
  return jnp.asarray(x, jnp.float32), params, torch_conv_transpose(x, weight, bias)


@pytest.mark.parametrize("method", ["transpose", "subpixel"])
def test_upsample_matches_pytorch_conv_transpose(layer_case, method):
  x, params, expected = layer_case
  y = jax.jit(Upsample2x(7, method=method).apply)({"params": params}, x)
  assert y.shape == (BATCH, 10, 12, 7)
  np.testing.assert_allclose(y, expected, atol=TOLERANCE, rtol=TOLERANCE)


def test_flax_conv_transpose_with_explicit_padding_matches_pytorch(layer_case):
  x, params, expected = layer_case
  layer = nn.ConvTranspose(7, (4, 4), strides=(2, 2), padding=TRANSPOSE_PADDING)
  np.testing.assert_allclose(layer.apply({"params": params}, x), expected, atol=TOLERANCE, rtol=TOLERANCE)


def test_phase_kernel_on_the_padded_input_reproduces_transposed_conv(layer_case):
  x, params, _ = layer_case
  kernel = phase_kernel(params["kernel"])
  assert kernel.shape == (2, 2, 3, 4 * 7)
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  phases = jax.lax.conv_general_dilated(padded, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  np.testing.assert_allclose(interleave_phases(phases), transposed_conv(x, params["kernel"]), atol=TOLERANCE,
                             rtol=TOLERANCE)


def test_phase_kernel_holds_each_tap_exactly_once():
  kernel = jnp.arange(4 * 4 * 2 * 3, dtype=jnp.float32).reshape(4, 4, 2, 3) + 1
  mapped = np.asarray(phase_kernel(kernel))
  assert mapped.size == kernel.size
  np.testing.assert_array_equal(np.sort(mapped.ravel()), np.sort(np.asarray(kernel).ravel()))


def test_interleave_takes_phase_pq_from_position_a_plus_p_b_plus_q():
  y = jnp.arange(16, dtype=jnp.float32).reshape(1, 2, 2, 4)  # one input pixel: 2x2 positions, channels (p, q)
  # output (p, q) = y[0, p, q, 2p + q]
  np.testing.assert_array_equal(interleave_phases(y)[0, :, :, 0], [[0, 5], [10, 15]])


def test_subpixel_gradients_equal_the_transposed_convs(layer_case):
  x, params, _ = layer_case
  cotangent = jax.random.normal(jax.random.key(0), (BATCH, 10, 12, 7))
  expected = jax.vjp(transposed_conv, x, params["kernel"])[1](cotangent)
  got = jax.jit(lambda x, k, g: jax.vjp(subpixel_conv, x, k)[1](g))(x, params["kernel"], cotangent)
  for g, e in zip(got, expected):
    np.testing.assert_allclose(g, e, atol=1e-4, rtol=1e-4)


def test_matrix_product_gradients_of_the_phase_conv_equal_xlas():
  keys = jax.random.split(jax.random.key(1), 3)
  padded, kernel = jax.random.normal(keys[0], (2, 6, 7, 3)), jax.random.normal(keys[1], (2, 2, 3, 8))
  cotangent = jax.random.normal(keys[2], (2, 5, 6, 8))
  by_products = upsampling._conv_2x2_gradients_by_products(padded, kernel, cotangent)
  by_xla = upsampling._conv_2x2_gradients_by_xla(padded, kernel, cotangent)
  for a, b in zip(by_products, by_xla):
    np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("image_size", [64, 128])
def test_decoder_outputs_agree_across_upsampling_methods(image_size):
  z = jax.random.normal(jax.random.key(0), (BATCH, LATENT_DIM))
  subpixel = Decoder(image_size, LATENT_DIM, "subpixel")
  variables = init_variables(subpixel, jax.random.key(1))
  transpose = Decoder(image_size, LATENT_DIM, "transpose")
  assert jax.tree.map(jnp.shape, init_variables(transpose, jax.random.key(1))) == jax.tree.map(jnp.shape, variables)
  for train in (False, True):
    apply = lambda model: model.apply(variables, z, train=train, mutable=["batch_stats"])[0]
    np.testing.assert_allclose(apply(subpixel), apply(transpose), atol=TOLERANCE, rtol=TOLERANCE)


def test_unknown_upsample_method_is_rejected():
  with pytest.raises(ValueError, match="upsample method"):
    Upsample2x(4, method="nearest").init(jax.random.key(0), jnp.zeros((1, 2, 2, 1)))
