"""The classifier's training step: class-weighted cross-entropy, and with mixup the same mixture of both labels."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gancbam_jax.detect.classifier import MIXUP_STREAM, classifier_step
from gancbam_jax.train.batches import draw_batch
from gancbam_jax.train.state import adam, create_train_state
from gancbam_jax.train.transforms import mixup

BATCH = 8


class _TinyClassifier(nn.Module):
  """Batch statistics and a linear head: what the step's loss needs of a classifier, in milliseconds."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = nn.BatchNorm(use_running_average=not train)(x.reshape(x.shape[0], -1))
    return nn.Dense(2)(x)


@pytest.fixture(scope="module")
def state_and_data():
  rng = np.random.default_rng(0)
  labels = np.array([0] * 10 + [1] * 6, np.int32)
  images = rng.uniform(size=(16, 8, 8, 1)).astype(np.float32) * (1 + labels[:, None, None, None]) / 2
  model = _TinyClassifier()
  variables = model.init(jax.random.key(0), jnp.asarray(images[:2]))
  return create_train_state(model, variables, adam(1e-3, 0.9)), jnp.asarray(images), jnp.asarray(labels)


def _cross_entropy(state, x, targets, class_weights):
  logits, _ = state.apply_fn({"params": state.params, "batch_stats": state.batch_stats}, x, train=True,
                             mutable=["batch_stats"])
  return optax.softmax_cross_entropy_with_integer_labels(logits, targets) * class_weights[targets]


@pytest.mark.parametrize("alpha, partners", [(0.0, "any"), (0.4, "any"), (0.4, "same_class")])
def test_the_loss_weights_each_label_by_its_share_of_the_mixed_slice(state_and_data, alpha, partners):
  state, images, labels = state_and_data
  class_weights, key = jnp.array([0.7, 1.6]), jax.random.key(3)
  _, metrics = classifier_step(state, key, images, labels, class_weights, batch_size=BATCH, mixup_alpha=alpha,
                               mixup_partners=partners)
  x, y = draw_batch(jax.random.split(key)[0], images, labels, BATCH)
  if alpha:
    x, partner, weight = mixup(jax.random.fold_in(key, MIXUP_STREAM), x, alpha, y if partners == "same_class" else None)
    own, theirs = _cross_entropy(state, x, y, class_weights), _cross_entropy(state, x, y[partner], class_weights)
    expected = weight * own + (1 - weight) * theirs
    # Pairs across the two classes, or, within classes, none: the loss is then the plain one on the mixed slices.
    assert np.any(np.asarray(y) != np.asarray(y[partner])) == (partners == "any")
  else:
    expected = _cross_entropy(state, x, y, class_weights)
  np.testing.assert_allclose(float(metrics["loss"]), float(expected.mean()), rtol=1e-5)
