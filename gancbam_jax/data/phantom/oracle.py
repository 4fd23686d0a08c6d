"""The oracle ROC-AUC of a phantom preset: how well a supervised CNN with every label does.

The oracle is trained on a balanced set (the preset's anomaly_fraction, no imbalance thinning) of
one seed and scored on a separate set of another seed, both preprocessed as a model sees them
(each HU window mapped to [0, 1]). It is a plain CNN, not a method of this package, so it
measures the benchmark rather than the method: four stages of two 3x3 convs with GroupNorm and
ReLU (max pooling between them) end in one anomaly logit per cell of 8 x 8 pixels, and a slice's
logit is the largest (a small lesion anywhere decides). "All labels" includes where the anomaly
is: the phantom renders each training slice without its anomaly too, and each cell is also
trained on whether the anomaly's signal (the difference) reaches half its peak inside it
(balanced_cross_entropy). Adam at 1e-3, batches of 32. Its ROC-AUC is given overall, for lesions
and artefacts apart (each against the normal slices), and per anomaly type.

Why the cells: trained on the slice label alone, the same net stayed at chance on soft-tissue
lesions 100-180 HU from their organ (ROC-AUC 0.54 after 2,400 steps on 3,000 slices at 64 x 64)
that are plain to the eye; it measured the optimiser, not the benchmark. With the cells it
reached 0.83 on 600 slices in 1,000 steps, and on the medium preset (64 x 64, 2,000 slices,
1,500 steps) it finds nodules at 0.965 where the slice-label net found 0.894, streaks at 0.730
where it found 0.543.

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
CELL = 2 ** (len(STAGE_FEATURES) - 1)  # pixels per side of one output cell
NORM_GROUPS = 8
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
SCORE_BATCH = 128


class OracleNet(nn.Module):
  """(N, S, S, C) images in [0, 1] -> (N, S / CELL, S / CELL) anomaly logits, one per cell."""

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    x = images
    for stage, features in enumerate(STAGE_FEATURES):
      if stage:
        x = nn.max_pool(x, (2, 2), (2, 2))
      for _ in range(2):
        x = nn.relu(nn.GroupNorm(num_groups=NORM_GROUPS)(nn.Conv(features, (3, 3))(x)))
    return nn.Conv(1, (1, 1))(x)[..., 0]


def slice_logits(cell_logits: jax.Array) -> jax.Array:
  """A slice's anomaly logit: its most anomalous cell's."""
  return cell_logits.max(axis=(1, 2))


def balanced_cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """Per slice, the cross-entropy over its anomalous cells and over its other cells, each averaged; summed.

  A lesion covers one or two cells of a slice's 64 or 256: averaged over all cells, predicting
  "nowhere" is already near the optimum. Averaged over the positive cells of the whole batch, the
  slices of a global artefact (a miscalibration covers every cell) outweigh every lesion. Each
  anomalous slice's cells weigh as much as any other's.
  """
  errors = optax.sigmoid_binary_cross_entropy(logits, targets)
  per_slice = lambda weights: (errors * weights).sum((1, 2)) / jnp.maximum(weights.sum((1, 2)), 1.0)
  anomalous = targets.max((1, 2))
  positive = (per_slice(targets) * anomalous).sum() / jnp.maximum(anomalous.sum(), 1.0)
  return positive + per_slice(1 - targets).mean()


def preprocessed(hu: np.ndarray, settings: PreprocessSettings) -> np.ndarray:
  """HU slices as model input: each window mapped to [0, 1]."""
  return MinMaxStats.of_windows(settings.hu_windows).apply(np.stack([preprocess_slice(h, settings) for h in hu]))


def anomaly_cells(images: np.ndarray, clean: np.ndarray) -> np.ndarray:
  """(N, S / CELL, S / CELL) booleans: the cells where an anomaly's signal reaches half its peak in the slice.

  The signal is a slice minus the same slice rendered without its anomaly (zero for a normal
  slice), the half-peak extent as in difficulty.py's contrast-to-noise.
  """
  signal = np.abs(images - clean).max(axis=-1)
  peak = signal.max(axis=(1, 2), keepdims=True)
  present = (signal >= 0.5 * peak) & (peak > 0)
  n, size = present.shape[:2]
  return present.reshape(n, size // CELL, CELL, size // CELL, CELL).any(axis=(2, 4))


def preprocessed_set(n: int, seed: int, config: PhantomConfig, settings: PreprocessSettings
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """n phantom slices as model input, their labels and anomaly types."""
  hu, records = generate_slices(n, seed, config)
  return (preprocessed(hu, settings), np.array([r.anomaly for r in records], np.int32),
          np.array([r.anomaly_type for r in records]))


def training_set(n: int, seed: int, config: PhantomConfig, settings: PreprocessSettings
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """n phantom slices as model input, their labels and where their anomalies are (anomaly_cells)."""
  images, labels, _ = preprocessed_set(n, seed, config, settings)
  clean, _ = generate_slices(n, seed, dataclasses.replace(config, anomaly_fraction=0.0))
  return images, labels, anomaly_cells(images, preprocessed(clean, settings))


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
  if settings.image_size % CELL:
    raise ValueError(f"the oracle needs an image size divisible by {CELL}, got {settings.image_size}")
  config = resolve_config(preset)
  train_images, train_labels, train_cells = training_set(n_train, 2 * seed + 1, config, settings)
  # As the loss takes them, once rather than per batch.
  train_labels, train_cells = train_labels.astype(np.float32), train_cells.astype(np.float32)
  test_images, test_labels, test_types = preprocessed_set(n_test, 2 * seed + 2, config, settings)
  model, optimizer = OracleNet(), optax.adam(LEARNING_RATE)
  params = model.init(jax.random.key(seed), train_images[:1])
  opt_state = optimizer.init(params)

  @jax.jit
  def step(params, opt_state, images, labels, cells):
    def loss(params):
      cell_logits = model.apply(params, images)
      return (optax.sigmoid_binary_cross_entropy(slice_logits(cell_logits), labels).mean()
              + balanced_cross_entropy(cell_logits, cells))
    updates, opt_state = optimizer.update(jax.grad(loss)(params), opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  rng = np.random.default_rng(seed)
  for _ in range(steps):
    batch = rng.choice(n_train, size=BATCH_SIZE, replace=False)
    params, opt_state = step(params, opt_state, train_images[batch], train_labels[batch], train_cells[batch])
  score = jax.jit(lambda params, images: slice_logits(model.apply(params, images)))
  scores = np.concatenate([np.asarray(score(params, test_images[i:i + SCORE_BATCH]))
                           for i in range(0, n_test, SCORE_BATCH)])
  per_type = {kind: _auc_against_normals(test_labels, scores, test_types, [kind])
              for kind in sorted(set(test_types) - {"none"})}
  return OracleResult(roc_auc=float(roc_auc_score(test_labels, scores)),
                      lesions_roc_auc=_auc_against_normals(test_labels, scores, test_types, LESION_TYPES),
                      artefacts_roc_auc=_auc_against_normals(test_labels, scores, test_types, ARTEFACT_TYPES),
                      per_type=per_type, n_train=n_train, n_test=n_test, steps=steps)
