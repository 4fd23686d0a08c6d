"""Autoencoder variants at 64x64 and 128x128: shapes, gradients, jit, dtypes, config errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancbam_jax.models import VARIANTS, build_autoencoder, init_variables

from model_testing import BATCH, LATENT_DIM, assert_every_leaf_has_gradient, autoencoder_setup, autoencoder_training_pass, images

SIZES = pytest.mark.parametrize("image_size", [64, 128])
ALL_VARIANTS = pytest.mark.parametrize("variant", VARIANTS)


@SIZES
@ALL_VARIANTS
def test_shapes(variant, image_size):
  autoencoder, variables = autoencoder_setup(variant, image_size)
  out = autoencoder_training_pass(variant, image_size)
  assert out["latent"].shape == (BATCH, LATENT_DIM)
  assert out["reconstruction"].shape == (BATCH, image_size, image_size, 1)
  # FC1 sees the 4*4*128 flatten of B5, plus the two 128-wide gate outputs for the gate variant.
  fc1_inputs = variables["params"]["encoder"]["trunk"]["fc1"]["kernel"].shape[0]
  assert fc1_inputs == 2048 + (256 if variant == "attention_gate" else 0)
  assert variables["params"]["encoder"]["trunk"]["b5"]["bn"]["scale"].shape == (128,)


@SIZES
@ALL_VARIANTS
def test_gradients_reach_every_parameter(variant, image_size):
  out = autoencoder_training_pass(variant, image_size)
  assert np.isfinite(out["loss"])
  assert_every_leaf_has_gradient(out["grads"])


@SIZES
@ALL_VARIANTS
def test_training_pass_updates_batch_statistics(variant, image_size):
  _, variables = autoencoder_setup(variant, image_size)
  updated = autoencoder_training_pass(variant, image_size)["batch_stats"]
  assert jax.tree.structure(updated) == jax.tree.structure(variables["batch_stats"])
  assert all(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(updated), jax.tree.leaves(variables["batch_stats"])))


def test_encode_decode_methods_compose_to_reconstruction_under_jit():
  autoencoder, variables = autoencoder_setup("cbam", 64)
  x = images(64)
  encode = jax.jit(lambda v, x: autoencoder.apply(v, x, train=False, method="encode"))
  decode = jax.jit(lambda v, z: autoencoder.apply(v, z, train=False, method="decode"))
  reconstruct = jax.jit(lambda v, x: autoencoder.apply(v, x, train=False))
  z = encode(variables, x)
  assert z.dtype == jnp.float32
  assert np.any(z < 0), "the latent layer is linear, so latents take negative values"
  np.testing.assert_allclose(decode(variables, z), reconstruct(variables, x), atol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS)
def test_bfloat16_compute_keeps_float32_parameters_statistics_and_outputs(variant):
  autoencoder = build_autoencoder(variant, 64, LATENT_DIM, dtype=jnp.bfloat16)
  variables = init_variables(autoencoder, jax.random.key(0))
  assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}
  forward = jax.jit(lambda v, x: autoencoder.apply(v, x, train=True, mutable=["batch_stats"]))
  reconstruction, state = forward(variables, images(64))
  assert reconstruction.dtype == jnp.float32
  assert np.all(np.isfinite(reconstruction))
  assert {leaf.dtype for leaf in jax.tree.leaves(state["batch_stats"])} == {jnp.dtype(jnp.float32)}
  assert autoencoder.apply(variables, images(64), train=False, method="encode").dtype == jnp.float32


@pytest.mark.parametrize("kwargs, message", [
    (dict(variant="resnet"), "unknown variant"),
    (dict(image_size=96), "image_size"),
])
def test_unknown_configurations_are_rejected(kwargs, message):
  with pytest.raises(ValueError, match=message):
    build_autoencoder(**kwargs)


def test_wrong_input_shape_is_rejected():
  autoencoder, variables = autoencoder_setup("baseline", 64)
  with pytest.raises(ValueError, match="expected images"):
    autoencoder.apply(variables, images(128), train=False)
