"""Generator, (n+1)-class discriminator and anomaly classifier: shapes, gradients, dropout, dtypes."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gancbam_jax.models import (
    VARIANTS,
    build_autoencoder,
    build_classifier,
    build_discriminator,
    build_generator,
    fake_label,
    init_variables,
)

from model_testing import BATCH, LATENT_DIM, assert_every_leaf_has_gradient, autoencoder_setup, images

N_CLASSES = 3


def test_generator_maps_latents_to_images(image_size=128):
  autoencoder, _ = autoencoder_setup("cbam", image_size)
  generator = build_generator(autoencoder)
  variables = init_variables(generator, jax.random.key(0))
  z = jax.random.normal(jax.random.key(1), (BATCH, LATENT_DIM))
  fakes = jax.jit(lambda v, z: generator.apply(v, z, train=False))(variables, z)
  assert fakes.shape == (BATCH, image_size, image_size, 1)
  assert fakes.dtype == jnp.float32


@pytest.mark.parametrize("variant", VARIANTS)
def test_discriminator_logits_and_gradients(variant):
  autoencoder, _ = autoencoder_setup(variant, 64)
  discriminator = build_discriminator(autoencoder, N_CLASSES, dropout_rate=0.3)
  variables = init_variables(discriminator, jax.random.key(0))
  assert variables["params"]["head"]["kernel"].shape == (512, N_CLASSES + 1)
  labels = jnp.array([0, fake_label(N_CLASSES)])

  def loss_fn(params, x):
    logits, _ = discriminator.apply({"params": params, "batch_stats": variables["batch_stats"]}, x, train=True,
                                    rngs={"dropout": jax.random.key(2)}, mutable=["batch_stats"])
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), logits

  (loss, logits), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(variables["params"], images(64))
  assert logits.shape == (BATCH, N_CLASSES + 1)
  assert np.isfinite(loss)
  assert_every_leaf_has_gradient(grads)


def test_discriminator_dropout_is_random_in_training_and_off_in_evaluation():
  autoencoder, _ = autoencoder_setup("baseline", 64)
  discriminator = build_discriminator(autoencoder, N_CLASSES, dropout_rate=0.3)
  variables = init_variables(discriminator, jax.random.key(0))
  x = images(64)
  train = lambda seed: discriminator.apply(variables, x, train=True, rngs={"dropout": jax.random.key(seed)},
                                           mutable=["batch_stats"])[0]
  assert not np.allclose(train(0), train(1))
  np.testing.assert_array_equal(discriminator.apply(variables, x, train=False), discriminator.apply(variables, x, train=False))


def test_classifier_has_two_logits_and_trunk_features():
  autoencoder, _ = autoencoder_setup("attention_gate", 128)
  classifier = build_classifier(autoencoder)
  variables = init_variables(classifier, jax.random.key(0))
  x = images(128)
  assert jax.jit(lambda v, x: classifier.apply(v, x, train=False))(variables, x).shape == (BATCH, 2)
  features = classifier.apply(variables, x, train=False, method="features")
  assert features.shape == (BATCH, 512)
  assert features.dtype == jnp.float32


def test_bfloat16_discriminator_returns_float32_logits():
  autoencoder = build_autoencoder("cbam", 64, LATENT_DIM, dtype=jnp.bfloat16)
  discriminator = build_discriminator(autoencoder, N_CLASSES)
  variables = init_variables(discriminator, jax.random.key(0))
  logits, state = discriminator.apply(variables, images(64), train=True, mutable=["batch_stats"])
  assert logits.dtype == jnp.float32
  assert np.all(np.isfinite(logits))
  assert {leaf.dtype for leaf in jax.tree.leaves((variables, state))} == {jnp.dtype(jnp.float32)}
