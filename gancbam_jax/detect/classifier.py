"""The primary detector (METHOD.md §4b): the CBAM classifier trained on real plus BAGAN-synthetic slices.

Its trunk starts from the pretrained encoder (BAGAN's transfer) or, by detect.classifier_init, from a
random initialisation (for an autoencoder that does not generalise); its head is fresh, and it learns
normal vs anomalous from the training split with the minority class topped up by the generator
until the classes balance. `detect.rebalance` swaps that augmentation for the ablations a user
would try first: no rebalancing, a loss weighted by inverse class frequency, or plain oversampling
of the real minority slices. Training is counted in epochs of ceil(N / batch) steps over the
training set, so the per-epoch training and validation accuracy and loss of the paper's Figs. 3-4
exist. Every batch is classically augmented (`augment.classifier`; transforms.py) and mixed up
when `augment.mixup_alpha` > 0, each slice with one of any class or of its own
(`augment.mixup_partners`); the rate follows train.lr_schedule, and the epoch kept is the best on
validation by detect.classifier_selection (checkpoint selection on validation only, or the last
epoch).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding
from sklearn.metrics import roc_auc_score

from gancbam_jax import models
from gancbam_jax.batching import map_in_batches
from gancbam_jax.train import parallel
from gancbam_jax.train.augment import SyntheticImages, balancing_counts
from gancbam_jax.train.batches import draw_batch
from gancbam_jax.train.checkpoints import StageCheckpoints
from gancbam_jax.train.loop import IncompleteRunError, StageSchedule
from gancbam_jax.train.pipeline import Run, TrainedStages, TrainingSet
from gancbam_jax.train.state import TrainState, adam, all_finite, create_train_state
from gancbam_jax.train.transforms import ClassicAugmentation, classic_augment, mixup

STAGE = "classifier"
REBALANCING = ("bagan", "none", "class_weights", "oversample")
# Where the trunk's parameters start (detect.classifier_init), in the words reports use: copied from the pretrained
# encoder (METHOD.md §2), or drawn at random.
TRUNK_INITS = {
    "encoder": "trunk from the pretrained encoder",
    "random": "trunk from a random initialisation, not the encoder",
}
# How the epoch to keep is chosen on validation: each criterion's sort key (lower is better) and its description.
SELECTION_CRITERIA = {
    "val_loss": (lambda m: (m["val_loss"],), "lowest validation loss"),
    "val_roc_auc": (lambda m: (-m["val_roc_auc"], m["val_loss"]),
                    "highest validation ROC-AUC, ties broken by the lowest validation loss"),
    # For validation splits of a few slices, where either measure above is noise: the fixed budget of
    # detect.classifier_epochs, ended by the cosine schedule's small last steps, is kept.
    "last": (lambda m: (-m["epoch"],), "the last epoch (validation too small to choose on)"),
}
ADAM_BETA1 = 0.9  # Adam's usual decay: the classifier is not adversarial, so BAGAN's 0.5 is not needed
# Mixup draws from fold_in(step key, MIXUP_STREAM), not from a split of it: without mixup every batch
# is drawn and augmented as before mixup existed.
MIXUP_STREAM = 1


def _weighted_cross_entropy(logits: jax.Array, targets: jax.Array, class_weights: jax.Array) -> jax.Array:
  return optax.softmax_cross_entropy_with_integer_labels(logits, targets) * class_weights[targets]


def classifier_step(state: TrainState, key: jax.Array, images: jax.Array, labels: jax.Array, class_weights: jax.Array,
                    *, batch_size: int, augmentation: ClassicAugmentation | None = None, mixup_alpha: float = 0.0,
                    mixup_partners: str = "any",
                    batch_sharding: NamedSharding | None = None) -> tuple[TrainState, dict]:
  """One Adam step of class-weighted softmax cross-entropy on a batch drawn from the resident training set,
  classically augmented when a policy is given, then mixed up when mixup_alpha > 0 with partners as
  mixup_partners says (transforms.MIXUP_PARTNERS)."""
  k_batch, k_augment = jax.random.split(key)
  x, y = draw_batch(k_batch, images, labels, batch_size, batch_sharding)
  if augmentation is not None:
    x = classic_augment(k_augment, x, augmentation)
  if mixup_alpha > 0:
    x, partner, weight = mixup(jax.random.fold_in(key, MIXUP_STREAM), x, mixup_alpha,
                               y if mixup_partners == "same_class" else None)

  def loss_fn(params):
    logits, updates = state.apply_fn({"params": params, "batch_stats": state.batch_stats}, x, train=True,
                                     mutable=["batch_stats"])
    loss = _weighted_cross_entropy(logits, y, class_weights)
    if mixup_alpha > 0:
      loss = weight * loss + (1 - weight) * _weighted_cross_entropy(logits, y[partner], class_weights)
    return loss.mean(), (updates, logits)

  (loss, (updates, logits)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  state = state.apply_gradients(grads=grads, batch_stats=updates["batch_stats"])
  return state, {"loss": loss, "accuracy": jnp.mean(jnp.argmax(logits, -1) == y),
                 "finite": jnp.isfinite(loss) & all_finite(state.params)}


def log_probabilities(state: TrainState, images: jax.Array) -> jax.Array:
  """Class log-probabilities (N, 2), inference mode."""
  return jax.nn.log_softmax(state.apply_fn(state.variables, images, train=False))


def validation_metrics(log_p: np.ndarray, labels: np.ndarray, anomalous_index: int) -> dict:
  """Cross-entropy, accuracy and ROC-AUC (score: p(anomalous)) of class log-probabilities against validation labels."""
  return {"val_loss": float(-log_p[np.arange(len(labels)), labels].mean()),
          "val_accuracy": float(np.mean(np.argmax(log_p, -1) == labels)),
          "val_roc_auc": float(roc_auc_score(labels == anomalous_index, log_p[:, anomalous_index]))}


@dataclasses.dataclass(frozen=True)
class ClassifierTrainingSet:
  """What the classifier learns from: the (rebalanced) training slices and a loss weight per class."""

  images: np.ndarray
  labels: np.ndarray
  class_weights: np.ndarray  # (n_classes,)
  added: dict  # class name -> slices added to the real training split, and where they came from


def classifier_training_set(run: Run, synthetic: SyntheticImages | None, repeats: np.ndarray | None = None,
                            class_weights: np.ndarray | None = None) -> ClassifierTrainingSet:
  """The real training slices, those at indices repeats once more, and generated ones (which join
  training only, never validation or test), with a loss weight per class (default 1)."""
  data = run.data
  labels = data.train_labels.astype(np.int32)
  repeats = np.zeros(0, int) if repeats is None else repeats
  images, all_labels = [data.train_images, data.train_images[repeats]], [labels, labels[repeats]]
  added = {name: {"repeated_real": n} for name, n in data.class_counts(labels[repeats]).items() if n}
  if synthetic is not None:
    images.append(synthetic.images)
    all_labels.append(synthetic.labels.astype(np.int32))
    for name, n in data.class_counts(synthetic.labels).items():
      if n:
        added.setdefault(name, {})["synthetic"] = n
  weights = np.ones(run.n_classes, np.float32) if class_weights is None else class_weights
  return ClassifierTrainingSet(np.concatenate(images), np.concatenate(all_labels), weights, added)


def synthetic_share_of(synthetic: SyntheticImages, labels: np.ndarray, n_classes: int,
                       share: float) -> tuple[SyntheticImages, np.ndarray]:
  """Of the synthetic slices topping up each class, the first so many that they make up at most share
  of the class once balanced; returns them and how many real slices of each class must be drawn
  again to close the rest of the gap."""
  gap = balancing_counts(labels, n_classes)
  balanced = np.bincount(labels, minlength=n_classes) + gap
  kept = np.minimum(np.bincount(synthetic.labels, minlength=n_classes), np.floor(share * balanced).astype(int))
  keep = np.concatenate([np.flatnonzero(synthetic.labels == c)[:n] for c, n in enumerate(kept)])
  return SyntheticImages(synthetic.images[keep], synthetic.labels[keep]), np.maximum(gap - kept, 0)


def repeated_real(labels: np.ndarray, counts: np.ndarray, seed: int) -> np.ndarray:
  """Indices of counts[c] training slices of each class c, drawn with replacement."""
  rng = np.random.default_rng(seed)
  picks = [rng.choice(np.flatnonzero(labels == c), n) for c, n in enumerate(counts) if n]
  return np.concatenate(picks) if picks else np.zeros(0, int)


def rebalanced_training_set(run: Run, trained: TrainedStages) -> ClassifierTrainingSet:
  """The training split rebalanced as detect.rebalance says (BAGAN is trained only when it is asked for).

  BAGAN's slices make up at most detect.synthetic_share of a class they top up; real slices of the
  class drawn again close the rest of the gap.
  """
  labels, n_classes, seed = run.data.train_labels.astype(np.int32), run.n_classes, run.config.seed
  rebalance = run.config.detect.rebalance
  if rebalance == "bagan":
    synthetic, gap = synthetic_share_of(trained.synthetic, labels, n_classes, run.config.detect.synthetic_share)
    return classifier_training_set(run, synthetic, repeated_real(labels, gap, seed))
  if rebalance == "oversample":
    return classifier_training_set(run, None, repeated_real(labels, balancing_counts(labels, n_classes), seed))
  if rebalance == "class_weights":
    counts = np.bincount(labels, minlength=n_classes)
    return classifier_training_set(run, None, class_weights=(len(labels) / (n_classes * counts)).astype(np.float32))
  return classifier_training_set(run, None)


def classifier_stage(config) -> str:
  """The stage (checkpoints/<stage>) of the configured classifier: one per kind of training set, so that
  another rebalancing, trunk initialisation or ATR-GAN in the same run directory never resumes a classifier
  trained on other data or from another start."""
  detect = config.detect
  if detect.method == "atr_gan":
    base = "atr_gan_classifier"
  elif detect.rebalance == "bagan":
    base = STAGE if detect.synthetic_share == 1.0 else f"{STAGE}_synthetic_share_{detect.synthetic_share:g}"
  else:
    base = f"{STAGE}_{detect.rebalance}"
  return base if detect.classifier_init == "encoder" else f"{base}_{detect.classifier_init}_trunk"


def initial_variables(classifier: models.ImageClassifier, trunk_init: str, key: jax.Array,
                      encoder_variables: Callable[[], models.Variables]) -> models.Variables:
  """The classifier's variables before training: a fresh head, and a trunk copied from the encoder when trunk_init
  is "encoder" (TRUNK_INITS) or freshly drawn from key when it is "random".

  encoder_variables is called only for "encoder", so that a random trunk never trains an autoencoder it does not use.
  """
  variables = models.init_variables(classifier, key)
  return models.trunk_from_autoencoder(encoder_variables(), variables) if trunk_init == "encoder" else variables


def train_classifier(run: Run, trained: TrainedStages, training: ClassifierTrainingSet) -> tuple[TrainState, dict]:
  """Trains (or restores) the classifier; returns the state of the selected epoch and how it was selected."""
  cfg, train_cfg = run.config.detect, run.config.train
  train_set = TrainingSet.on_devices(run.mesh, training.images, training.labels, run.data.class_names,
                                     run.data.val_images)
  class_weights = parallel.replicate(training.class_weights, run.mesh)
  classifier = models.build_classifier(run.autoencoder)
  variables = initial_variables(classifier, cfg.classifier_init, run.key("classifier-init"),
                                lambda: trained.autoencoder.variables)
  epoch_steps = math.ceil(int(train_set.labels.shape[0]) / train_cfg.batch_size)
  total_steps = cfg.classifier_epochs * epoch_steps
  tx = adam(cfg.classifier_learning_rate, ADAM_BETA1, schedule=train_cfg.lr_schedule, steps=total_steps,
            weight_decay=cfg.classifier_weight_decay)
  state = parallel.replicate(create_train_state(classifier, variables, tx), run.mesh)
  name = classifier_stage(run.config)
  # One key for every training set: the ablations then differ from the method in their data alone.
  stage, key = run.stage(name), run.key(STAGE)
  selected = StageCheckpoints(run.workdir / "checkpoints" / f"{name}_selected", max_to_keep=1)
  start, state, key = stage.resume(state, key)
  sort_key, criterion = SELECTION_CRITERIA[cfg.classifier_selection]
  like = {"params": state.params, "batch_stats": state.batch_stats}
  restored = selected.restore_latest(like)
  best = restored[2] if restored else None
  augment = run.config.augment
  # augment.classifier switches every augmentation of the classifier's batches, mixup included.
  policy = {"augmentation": run.classic_augmentation, "mixup_alpha": augment.mixup_alpha,
            "mixup_partners": augment.mixup_partners} if augment.classifier else {}
  step = run.jit_step(classifier_step, batch_size=train_cfg.batch_size, **policy)
  predict = jax.jit(log_probabilities)  # compiled once; each epoch passes its state

  def evaluate_epoch(step_number, current):
    nonlocal best
    log_p = map_in_batches(functools.partial(predict, current), run.data.val_images, train_cfg.batch_size)
    metrics = {"epoch": step_number // epoch_steps,
               **validation_metrics(log_p, run.data.val_labels, run.data.dataset.anomalous_index)}
    if best is None or sort_key(metrics) < sort_key(best):
      best = {**metrics, "step": step_number, "criterion": criterion}
      selected.save(step_number, {"params": current.params, "batch_stats": current.batch_stats}, dict(best))
    return metrics

  state, report = stage.run(state, key, lambda s, k: step(s, k, train_set.images, train_set.labels, class_weights),
                            StageSchedule(total_steps, epoch_steps, epoch_steps), start,
                            on_log=evaluate_epoch)
  stage.checkpoints.close()
  run.announce(report.line())
  restored = selected.restore_latest(like)
  selected.close()
  if restored is None:
    raise IncompleteRunError(f"{selected.directory} holds no readable checkpoint of the selected epoch; delete it and "
                             f"{stage.checkpoints.directory} to train the classifier again")
  _, tree, selection = restored
  state = state.replace(params=tree["params"], batch_stats=tree["batch_stats"])
  return state, {"stage": name, **selection}
