"""Autoencoder-to-GAN weight transfer: bit-for-bit copies, fresh heads, untouched inputs."""

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancbam_jax.models import (
    VARIANTS,
    EncoderTrunk,
    build_autoencoder,
    build_classifier,
    build_discriminator,
    build_generator,
    generator_from_autoencoder,
    init_variables,
    trunk_from_autoencoder,
    trunk_from_discriminator,
)

from model_testing import LATENT_DIM, autoencoder_setup, images


def assert_trees_identical(a, b) -> None:
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    assert x.dtype == y.dtype and jnp.array_equal(x, y)


def trained_like(variables, seed: int = 7):
  """Variables moved away from their initialisation, as after training."""
  leaves, treedef = jax.tree.flatten(variables)
  keys = jax.random.split(jax.random.key(seed), len(leaves))
  return jax.tree.unflatten(treedef, [x + jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)])


@pytest.mark.parametrize("image_size", [64, 128])
@pytest.mark.parametrize("variant", VARIANTS)
def test_discriminator_and_classifier_trunks_equal_the_encoder_trunk(variant, image_size):
  autoencoder, variables = autoencoder_setup(variant, image_size)
  ae_variables = trained_like(variables)
  ae_before = copy.deepcopy(jax.device_get(ae_variables))
  x = images(image_size)
  encoder_trunk = {collection: tree["encoder"]["trunk"] for collection, tree in ae_variables.items()}
  expected_features = EncoderTrunk(variant, image_size).apply(encoder_trunk, x, train=False)
  for model in (build_discriminator(autoencoder, 2), build_classifier(autoencoder)):
    fresh = init_variables(model, jax.random.key(3))
    fresh_before = copy.deepcopy(jax.device_get(fresh))
    transferred = trunk_from_autoencoder(ae_variables, fresh)
    for collection in ("params", "batch_stats"):
      assert_trees_identical(transferred[collection]["trunk"], ae_variables[collection]["encoder"]["trunk"])
    assert_trees_identical(transferred["params"]["head"], fresh["params"]["head"])
    features = model.apply(transferred, x, train=False, method="features")
    np.testing.assert_array_equal(features, expected_features)
    assert_trees_identical(fresh, fresh_before)
  assert_trees_identical(ae_variables, ae_before)


@pytest.mark.parametrize("image_size", [64, 128])
def test_generator_equals_the_decoder(image_size):
  autoencoder, variables = autoencoder_setup("cbam", image_size)
  ae_variables = trained_like(variables)
  generator = build_generator(autoencoder)
  transferred = generator_from_autoencoder(ae_variables, init_variables(generator, jax.random.key(3)))
  for collection in ("params", "batch_stats"):
    assert_trees_identical(transferred[collection], ae_variables[collection]["decoder"])
  transferred["params"]["fc3"]["kernel"] = None  # the result shares no container with the input
  assert ae_variables["params"]["decoder"]["fc3"]["kernel"] is not None


def test_generator_output_equals_decoder_output():
  autoencoder, variables = autoencoder_setup("baseline", 64)
  generator = build_generator(autoencoder)
  transferred = generator_from_autoencoder(variables, init_variables(generator, jax.random.key(3)))
  z = jax.random.normal(jax.random.key(4), (2, LATENT_DIM))
  np.testing.assert_array_equal(generator.apply(transferred, z, train=False),
                                autoencoder.apply(variables, z, train=False, method="decode"))


def test_classifier_trunk_from_trained_discriminator():
  autoencoder, _ = autoencoder_setup("cbam", 64)
  discriminator = build_discriminator(autoencoder, 2)
  d_variables = trained_like(init_variables(discriminator, jax.random.key(0)))
  classifier = build_classifier(autoencoder)
  fresh = init_variables(classifier, jax.random.key(1))
  transferred = trunk_from_discriminator(d_variables, fresh)
  for collection in ("params", "batch_stats"):
    assert_trees_identical(transferred[collection]["trunk"], d_variables[collection]["trunk"])
  assert_trees_identical(transferred["params"]["head"], fresh["params"]["head"])


@pytest.mark.parametrize("other", [dict(variant="baseline"), dict(image_size=128)])
def test_mismatched_architectures_are_rejected(other):
  autoencoder, variables = autoencoder_setup("cbam", 64)
  config = dict(variant="cbam", image_size=64, latent_dim=LATENT_DIM) | other
  mismatched = build_discriminator(build_autoencoder(**config), 2)
  with pytest.raises(ValueError, match="differ"):
    trunk_from_autoencoder(variables, init_variables(mismatched, jax.random.key(0)))
