"""The four anomaly detectors of METHOD.md §4 behind one interface: images -> (scores, heatmaps).

A `Detector` holds a pure function `outputs(variables, images)` and its variables. Scores are
higher for more anomalous slices; heatmaps (N, h, w) say where the evidence lies: the finest CBAM
spatial attention map (or attention-gate map) for the classifier and the discriminator, the
squared residual for the reconstruction-based detectors. One function from a normalised image
batch to both is what evaluation times and what export serialises.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gancbam_jax import models
from gancbam_jax.batching import map_in_batches
from gancbam_jax.detect.classifier import STAGE as CLASSIFIER_STAGE
from gancbam_jax.detect.classifier import train_classifier
from gancbam_jax.detect.normality import (
    AUTOENCODER_STAGE,
    ENCODER_STAGE,
    izif_residuals,
    train_izif_encoder,
    train_normal_autoencoder,
)
from gancbam_jax.models.transfer import check_same_layout, replace_subtree, subtree
from gancbam_jax.train.checkpoints import StageCheckpoints
from gancbam_jax.train.pipeline import Run, TrainedStages

DESCRIPTIONS = {
    "classifier": "CBAM classifier (trunk from the pretrained encoder) trained on real plus BAGAN-synthetic slices, "
                  "classes balanced; score = softmax probability of the anomalous class",
    "discriminator": "BAGAN discriminator posterior; score = p(anomalous) / (1 - p(fake))",
    "reconstruction": "reconstruction error (mean squared) of a CBAM autoencoder trained on normal slices only",
    "fanogan": "f-AnoGAN izi_f score: residual of x against G(E'(x)) plus k times the residual of D's features, "
               "with G, D trained on normal slices only",
}
ATTENTION_HEATMAP = "spatial attention of the encoder trunk (finest map)"
SALIENCY_HEATMAP = "gradient saliency |d score / d pixel| (the baseline variant has no attention)"
RESIDUAL_HEATMAP = "squared reconstruction residual"


@dataclasses.dataclass(frozen=True)
class TrainedVariables:
  """Where a detector's own trained variables sit in its stage's checkpoints (to load another step).

  Attributes:
    stage: the stage whose checkpoints (checkpoints/<stage>) hold them.
    state_path: keys from the checkpointed train state to the TrainState that holds them.
    variables_path: keys from `Detector.variables` to the {'params', 'batch_stats'} they replace.
  """

  stage: str
  state_path: tuple[str, ...] = ()
  variables_path: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Detector:
  """One trained detector: `outputs(variables, images)` -> (scores (N,), heatmaps (N, h, w))."""

  method: str
  outputs: Callable[[Any, jax.Array], tuple[jax.Array, jax.Array]]  # jitted, pure
  variables: Any
  heatmap: str  # what the heatmaps show
  selection: dict  # which checkpoint and why (validation only)
  synthetic_training_images: dict  # class -> synthetic slices the detector was trained with
  trained: TrainedVariables

  @property
  def description(self) -> str:
    return DESCRIPTIONS[self.method]

  def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    return self.outputs(self.variables, images)

  def score(self, images: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores (N,) and heatmaps (N, h, w) of host images, in fixed-size batches."""
    return map_in_batches(self, images, batch_size)

  def at_step(self, workdir: pathlib.Path, step: int) -> "Detector":
    """This detector with its trained variables from its stage's checkpoint at `step` instead.

    Raises:
      ValueError: the stage has no checkpoint at `step` (the message lists those it has).
    """
    checkpoints = StageCheckpoints(workdir / "checkpoints" / self.trained.stage)
    try:
      steps = checkpoints.all_steps()
      if step not in steps:
        raise ValueError(f"stage {self.trained.stage!r} has no checkpoint at step {step} in {checkpoints.directory}; "
                         f"it keeps steps {steps} (train.max_to_keep sets how many)")
      state = subtree(checkpoints.read_arrays(step)["train"], self.trained.state_path)
    finally:
      checkpoints.close()
    loaded = {"params": state["params"], "batch_stats": state["batch_stats"]}
    check_same_layout(loaded, subtree(self.variables, self.trained.variables_path),
                      f"{self.method} variables at step {step}")
    return dataclasses.replace(self, variables=replace_subtree(self.variables, self.trained.variables_path, loaded),
                               selection={"stage": self.trained.stage, "step": step, "criterion": "chosen by the user"})


def _finest_attention(intermediates) -> jax.Array | None:
  """The sown attention map with the most positions, (N, h, w), or None for a model without attention."""
  maps = models.attention_maps(intermediates)
  if not maps:
    return None
  return max(maps.values(), key=lambda m: m.shape[1] * m.shape[2])[..., 0]


def _posterior_outputs(model: nn.Module, score_of_logits: Callable[[jax.Array], jax.Array], variables,
                       images: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Scores from a classifier-like model's logits; heatmap = its attention, else gradient saliency."""
  logits, sown = model.apply(variables, images, train=False, mutable=["intermediates"])
  scores = score_of_logits(logits)
  heatmaps = _finest_attention(sown.get("intermediates", {}))  # nothing is sown without attention
  if heatmaps is None:
    total = lambda x: score_of_logits(model.apply(variables, x, train=False)).sum()
    heatmaps = jnp.abs(jax.grad(total)(images))[..., 0]
  return scores, heatmaps


def _anomalous_probability(anomalous_index: int, logits: jax.Array) -> jax.Array:
  return jax.nn.softmax(logits)[:, anomalous_index]


def classifier_outputs(classifier: nn.Module, anomalous_index: int) -> Callable:
  """`outputs(variables, images)` of an image classifier: softmax p(anomalous class) and its heatmap."""
  return functools.partial(_posterior_outputs, classifier, functools.partial(_anomalous_probability, anomalous_index))


def _real_class_posterior(n_classes: int, anomalous_index: int, logits: jax.Array) -> jax.Array:
  # p_anomalous / (1 - p_fake) is the softmax over the real classes' logits alone: the same value,
  # without the 0/0 of a slice that D is certain is fake.
  return jax.nn.softmax(logits[:, :n_classes])[:, anomalous_index]


def _reconstruction_outputs(autoencoder: models.Autoencoder, variables, images: jax.Array):
  residual = jnp.square(images - autoencoder.apply(variables, images, train=False))[..., 0]
  return jnp.mean(residual, axis=(1, 2)), residual


def _heatmap_kind(run: Run) -> str:
  return SALIENCY_HEATMAP if run.config.model.variant == "baseline" else ATTENTION_HEATMAP


def classifier_detector(run: Run, trained: TrainedStages) -> Detector:
  state, selection = train_classifier(run, trained.autoencoder, trained.synthetic)
  outputs = classifier_outputs(models.build_classifier(run.autoencoder), run.data.dataset.anomalous_index)
  synthetic = run.data.class_counts(trained.synthetic.labels)
  return Detector("classifier", jax.jit(outputs), state.variables, _heatmap_kind(run), selection,
                  {name: n for name, n in synthetic.items() if n}, TrainedVariables(CLASSIFIER_STAGE))


def discriminator_detector(run: Run, trained: TrainedStages) -> Detector:
  discriminator = models.build_discriminator(run.autoencoder, run.n_classes, run.config.model.discriminator_dropout)
  outputs = functools.partial(_posterior_outputs, discriminator,
                              functools.partial(_real_class_posterior, run.n_classes, run.data.dataset.anomalous_index))
  step = int(jax.device_get(trained.gan.step))
  return Detector("discriminator", jax.jit(outputs), trained.gan.discriminator.variables, _heatmap_kind(run),
                  {"stage": "bagan", "step": step, "criterion": "last adversarial step"}, {},
                  TrainedVariables("bagan", state_path=("discriminator",)))


def reconstruction_detector(run: Run, trained: TrainedStages) -> Detector:
  del trained  # learns from normal slices only, independently of BAGAN
  state = train_normal_autoencoder(run)
  outputs = functools.partial(_reconstruction_outputs, run.autoencoder)
  return Detector("reconstruction", jax.jit(outputs), state.variables, RESIDUAL_HEATMAP,
                  {"stage": AUTOENCODER_STAGE, "step": int(jax.device_get(state.step)), "criterion": "last step"},
                  {}, TrainedVariables(AUTOENCODER_STAGE))


def fanogan_detector(run: Run, trained: TrainedStages) -> Detector:
  del trained
  variables, fanogan = train_izif_encoder(run, train_normal_autoencoder(run))
  weight = run.config.detect.fanogan_feature_weight
  outputs = lambda v, x: izif_residuals(fanogan, v, x, weight)[:2]
  return Detector("fanogan", jax.jit(outputs), variables, RESIDUAL_HEATMAP,
                  {"stage": ENCODER_STAGE, "step": run.config.detect.encoder_steps, "criterion": "last step"}, {},
                  TrainedVariables(ENCODER_STAGE, variables_path=("encoder",)))


BUILDERS: dict[str, Callable[[Run, TrainedStages], Detector]] = {
    "classifier": classifier_detector,
    "discriminator": discriminator_detector,
    "reconstruction": reconstruction_detector,
    "fanogan": fanogan_detector,
}


def build_detector(method: str, run: Run, trained: TrainedStages) -> Detector:
  """Trains (or restores) what `method` needs beyond the training stages and returns its detector."""
  return BUILDERS[method](run, trained)
