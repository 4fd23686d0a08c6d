"""The oracle ROC-AUC of a phantom preset: how well a supervised CNN with every label does.

The oracle is trained on a balanced set (the preset's anomaly_fraction, no imbalance thinning) of
one seed and scored on a separate set of another seed, both preprocessed as a model sees them
(each HU window mapped to [0, 1]). It is a plain CNN, not a method of this package, so it
measures the benchmark rather than the method: four stages of two 3x3 convs with GroupNorm and
ReLU, global max pooling (a small lesion anywhere decides) beside global mean pooling, one logit;
Adam at 1e-3, batches of 32. Its ROC-AUC is given overall, for lesions and artefacts apart (each
against the normal slices), and per anomaly type.

GroupNorm normalises each slice, so the oracle is nearly blind to a global HU offset
(miscalibration): its artefact figures are a lower bound. BatchNorm and plain convs learned less
in the same steps on the medium preset.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.metrics import roc_auc_score

from gancbam_jax.data.normalize import MinMaxStats
from gancbam_jax.data.phantom.config import ARTEFACT_TYPES, LESION_TYPES, PhantomConfig, resolve_config
from gancbam_jax.data.phantom.dataset import generate_slices
from gancbam_jax.data.preprocess import PreprocessSettings, preprocess_slice

STAGE_FEATURES = (16, 32, 64, 64)
NORM_GROUPS = 8
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
SCORE_BATCH = 128


class OracleNet(nn.Module):
  """(N, S, S, C) images in [0, 1] -> (N,) anomaly logits (see the module docstring)."""

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    x = images
    for features in STAGE_FEATURES:
      for _ in range(2):
        x = nn.relu(nn.GroupNorm(num_groups=NORM_GROUPS)(nn.Conv(features, (3, 3))(x)))
      x = nn.max_pool(x, (2, 2), (2, 2))
    pooled = jnp.concatenate([x.max(axis=(1, 2)), x.mean(axis=(1, 2))], axis=-1)
    return nn.Dense(1)(pooled)[:, 0]


def preprocessed_set(n: int, seed: int, config: PhantomConfig, settings: PreprocessSettings
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """n phantom slices as model input, each window mapped to [0, 1]; their labels and anomaly types."""
  hu, records = generate_slices(n, seed, config)
  images = MinMaxStats.of_windows(settings.hu_windows).apply(np.stack([preprocess_slice(h, settings) for h in hu]))
  return (images, np.array([r.anomaly for r in records], np.int32),
          np.array([r.anomaly_type for r in records]))


@dataclasses.dataclass(frozen=True)
class OracleResult:
  """Test ROC-AUC of the oracle: overall, lesions and artefacts (each against normals), and per type."""

  roc_auc: float
  lesions_roc_auc: float
  artefacts_roc_auc: float
  per_type: dict[str, float]
  n_train: int
  n_test: int
  steps: int


def _auc_against_normals(labels: np.ndarray, scores: np.ndarray, types: np.ndarray, chosen) -> float:
  keep = (types == "none") | np.isin(types, chosen)
  return float(roc_auc_score(labels[keep], scores[keep])) if len(set(labels[keep])) == 2 else float("nan")


def oracle_roc_auc(preset: str | PhantomConfig, settings: PreprocessSettings, n_train: int = 2000,
                   n_test: int = 1000, steps: int = 1500, seed: int = 0) -> OracleResult:
  """Trains the oracle on n_train slices (phantom seed 2 * seed + 1) and scores n_test (seed 2 * seed + 2)."""
  config = resolve_config(preset)
  train_images, train_labels, _ = preprocessed_set(n_train, 2 * seed + 1, config, settings)
  test_images, test_labels, test_types = preprocessed_set(n_test, 2 * seed + 2, config, settings)
  model, optimizer = OracleNet(), optax.adam(LEARNING_RATE)
  params = model.init(jax.random.key(seed), train_images[:1])
  opt_state = optimizer.init(params)

  @jax.jit
  def step(params, opt_state, images, labels):
    loss = lambda p: optax.sigmoid_binary_cross_entropy(model.apply(p, images), labels).mean()
    updates, opt_state = optimizer.update(jax.grad(loss)(params), opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  rng = np.random.default_rng(seed)
  for _ in range(steps):
    batch = rng.choice(n_train, size=BATCH_SIZE, replace=False)
    params, opt_state = step(params, opt_state, train_images[batch], train_labels[batch].astype(np.float32))
  score = jax.jit(model.apply)
  scores = np.concatenate([np.asarray(score(params, test_images[i:i + SCORE_BATCH]))
                           for i in range(0, n_test, SCORE_BATCH)])
  per_type = {kind: _auc_against_normals(test_labels, scores, test_types, [kind])
              for kind in sorted(set(test_types) - {"none"})}
  return OracleResult(roc_auc=float(roc_auc_score(test_labels, scores)),
                      lesions_roc_auc=_auc_against_normals(test_labels, scores, test_types, LESION_TYPES),
                      artefacts_roc_auc=_auc_against_normals(test_labels, scores, test_types, ARTEFACT_TYPES),
                      per_type=per_type, n_train=n_train, n_test=n_test, steps=steps)
