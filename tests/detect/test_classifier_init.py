"""Where the classifier's trunk starts: the pretrained encoder (BAGAN's transfer) or a random draw."""

import jax
import jax.numpy as jnp
import pytest

from gancbam_jax.detect.classifier import TRUNK_INITS, initial_variables
from gancbam_jax.models import build_autoencoder, build_classifier, init_variables


@pytest.fixture(scope="module")
def models_and_encoder():
  autoencoder = build_autoencoder("cbam", 64, 16)
  initial = init_variables(autoencoder, jax.random.key(1))
  # Moved away from their initialisation, as after pretraining (fresh batch statistics are 0 and 1 in any model).
  trained = jax.tree.map(lambda x: x + 0.5, initial)
  return build_classifier(autoencoder), trained


def _same(a, b) -> bool:
  return all(bool(jnp.array_equal(x, y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("trunk_init", TRUNK_INITS)
def test_the_trunk_is_the_encoders_only_when_asked_and_the_head_is_always_fresh(models_and_encoder, trunk_init):
  classifier, autoencoder_variables = models_and_encoder
  key = jax.random.key(5)
  fresh = init_variables(classifier, key)
  variables = initial_variables(classifier, trunk_init, key, lambda: autoencoder_variables)
  for collection in ("params", "batch_stats"):
    encoder_trunk = autoencoder_variables[collection]["encoder"]["trunk"]
    assert _same(variables[collection]["trunk"], encoder_trunk) == (trunk_init == "encoder")
    assert _same(variables[collection]["trunk"], fresh[collection]["trunk"]) == (trunk_init == "random")
  assert _same(variables["params"]["head"], fresh["params"]["head"])


def test_a_random_trunk_never_asks_for_the_encoder(models_and_encoder):
  """So that a run whose classifier starts at random trains no autoencoder it does not use."""
  classifier, _ = models_and_encoder

  def encoder_variables():
    raise AssertionError("the encoder was read for a random trunk")

  initial_variables(classifier, "random", jax.random.key(5), encoder_variables)
