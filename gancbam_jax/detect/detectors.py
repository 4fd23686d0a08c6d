"""Every anomaly detector behind one interface: images -> (scores, heatmaps).

The four decisions of METHOD.md §4 (classifier, D posterior, reconstruction, f-AnoGAN) and the
baselines of §6 (GDA, ATR-GAN, ACLAE-DT) plus Isolation Forest and One-Class SVM. A `Detector`
holds a pure function `outputs(variables, images)` and its variables. Scores are higher for more
anomalous slices; heatmaps (N, h, w) say where the evidence lies: the finest CBAM spatial
attention map (or attention-gate map) for the classifiers and the discriminator, the squared
residual for the reconstruction-based detectors, the deviation within the PCA subspace for the
feature baselines. One function from a normalised image batch to both is what evaluation times
and what export serialises, so every method is timed and exported alike. Each builder trains
only the stages it needs (`TrainedStages` trains on first use).
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
from gancbam_jax.detect import aclae, atr_gan, forest
from gancbam_jax.detect.classifier import (TRUNK_INITS, classifier_stage, classifier_training_set,
                                          rebalanced_training_set, train_classifier)
from gancbam_jax.detect.normality import (
    AUTOENCODER_STAGE,
    ENCODER_STAGE,
    izif_residuals,
    train_izif_encoder,
    train_normal_autoencoder,
)
from gancbam_jax.detect.shallow import feature_detector_outputs, fit_feature_detector
from gancbam_jax.detect.slice_features import DEVIATION_HEATMAP
from gancbam_jax.models.transfer import check_same_layout, replace_subtree, subtree
from gancbam_jax.train.checkpoints import StageCheckpoints
from gancbam_jax.train.pipeline import Run, TrainedStages

DESCRIPTIONS = {
    "classifier": "CBAM classifier trained on the training split; score = softmax probability of the anomalous class",
    "discriminator": "BAGAN discriminator posterior; score = p(anomalous) / (1 - p(fake))",
    "reconstruction": "reconstruction error (mean squared) of a CBAM autoencoder trained on normal slices only",
    "fanogan": "f-AnoGAN izi_f score: residual of x against G(E'(x)) plus k times the residual of D's features, "
               "with G, D trained on normal slices only",
    "gda": "GDA (Dwivedi et al. 2021): one full-covariance Gaussian of the PCA features of normal training slices; "
           "score = -log p(x)",
    "isolation_forest": "Isolation Forest (scikit-learn defaults) on the PCA features of normal training slices; "
                        "score = -score_samples",
    "ocsvm": "One-Class SVM (RBF kernel, scikit-learn defaults) on the PCA features of normal training slices; "
             "score = -decision_function",
    "atr_gan": "ATR-GAN (Li et al. 2022): DCGAN of the anomalous training slices with bootstrap batches, candidates "
               "kept by a nearest-neighbour filter in the encoder's latent space, then the classifier trained on "
               "real plus kept slices; score = softmax probability of the anomalous class",
    "random_forest": "random forest (scikit-learn, 300 trees, balanced class weights) on the pixels of the real "
                     "training slices, the classifier's own training split; score = its probability of the anomalous "
                     "class",
    "aclae_dt": "ACLAE-DT (Tayeh et al. 2022): ConvLSTM autoencoder with temporal attention of signature matrices "
                "(rows as time, column bands as variables), trained on normal slices; score = reconstruction error "
                "of the last signature matrix",
}
REBALANCED = {
    "bagan": "classes balanced with BAGAN-synthetic slices",
    "none": "ablation: no rebalancing, trained on the imbalanced training split",
    "class_weights": "ablation: no synthetic slices, cross-entropy weighted by inverse class frequency",
    "oversample": "ablation: no synthetic slices, real minority slices drawn again until the classes balance",
}


def rebalancing_description(detect) -> str:
  """How the classifier's classes were balanced, in words (REBALANCED, with BAGAN's share where capped)."""
  if detect.rebalance == "bagan" and detect.synthetic_share < 1.0:
    return (f"classes balanced with BAGAN-synthetic slices (at most {detect.synthetic_share:.0%} of a class) "
            "and real minority slices drawn again")
  return REBALANCED[detect.rebalance]


ATTENTION_HEATMAP = "spatial attention of the encoder trunk (finest map)"
SALIENCY_HEATMAP = "gradient saliency |d score / d pixel| (the baseline variant has no attention)"
RESIDUAL_HEATMAP = "squared reconstruction residual"
SIGNATURE_HEATMAP = "reconstruction error of each column band's row of the last signature matrix (coarse: bands)"


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
  added_training_images: dict  # class -> {source: count} of slices added to the real training split
  trained: TrainedVariables | None  # None: fitted in one pass, no checkpoints
  description: str
  augmentation: dict | None = None  # diversity, memorisation and quality checks of the synthetic training slices
  autoencoder: dict | None = None  # validation MSE of the pretrained autoencoder beside the mean slice's, when used
  # (threshold, rule) from validation scores and labels, for a method with its own thresholding rule;
  # None: the config's eval.threshold rule.
  threshold_rule: Callable[[np.ndarray, np.ndarray], tuple[float, str]] | None = None

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
    if self.trained is None:
      raise ValueError(f"{self.method} is fitted in one pass and keeps no checkpoints; leave out the step")
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
    heatmaps = jnp.abs(jax.grad(total)(images)).max(axis=-1)  # the most sensitive HU window at each pixel
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
  reconstructions = models.as_slices(autoencoder.apply(variables, images, train=False))
  residual = jnp.square(images - reconstructions).mean(axis=-1)
  return jnp.mean(residual, axis=(1, 2)), residual


def _heatmap_kind(run: Run) -> str:
  return SALIENCY_HEATMAP if run.config.model.variant == "baseline" else ATTENTION_HEATMAP


def classifier_detector(run: Run, trained: TrainedStages) -> Detector:
  training = rebalanced_training_set(run, trained)
  state, selection = train_classifier(run, trained, training)
  outputs = classifier_outputs(models.build_classifier(run.autoencoder), run.data.dataset.anomalous_index)
  rebalance = run.config.detect.rebalance
  return Detector("classifier", jax.jit(outputs), state.variables, _heatmap_kind(run), selection, training.added,
                  TrainedVariables(classifier_stage(run.config)),
                  description=(f"{DESCRIPTIONS['classifier']}; {TRUNK_INITS[run.config.detect.classifier_init]}; "
                               f"{rebalancing_description(run.config.detect)}"),
                  augmentation=trained.summary["augmentation"] if rebalance == "bagan" else None)


def discriminator_detector(run: Run, trained: TrainedStages) -> Detector:
  discriminator = models.build_discriminator(run.autoencoder, run.n_classes, run.config.model.discriminator_dropout)
  outputs = functools.partial(_posterior_outputs, discriminator,
                              functools.partial(_real_class_posterior, run.n_classes, run.data.dataset.anomalous_index))
  step = int(jax.device_get(trained.gan.step))
  return Detector("discriminator", jax.jit(outputs), trained.gan.discriminator.variables, _heatmap_kind(run),
                  {"stage": "bagan", "step": step, "criterion": "last adversarial step"}, {},
                  TrainedVariables("bagan", state_path=("discriminator",)), DESCRIPTIONS["discriminator"])


def reconstruction_detector(run: Run, trained: TrainedStages) -> Detector:
  del trained  # learns from normal slices only, independently of BAGAN
  state = train_normal_autoencoder(run)
  outputs = functools.partial(_reconstruction_outputs, run.autoencoder)
  return Detector("reconstruction", jax.jit(outputs), state.variables, RESIDUAL_HEATMAP,
                  {"stage": AUTOENCODER_STAGE, "step": int(jax.device_get(state.step)), "criterion": "last step"},
                  {}, TrainedVariables(AUTOENCODER_STAGE), DESCRIPTIONS["reconstruction"])


def fanogan_detector(run: Run, trained: TrainedStages) -> Detector:
  del trained
  variables, fanogan = train_izif_encoder(run, train_normal_autoencoder(run))
  weight = run.config.detect.fanogan_feature_weight
  outputs = lambda v, x: izif_residuals(fanogan, v, x, weight)[:2]
  return Detector("fanogan", jax.jit(outputs), variables, RESIDUAL_HEATMAP,
                  {"stage": ENCODER_STAGE, "step": run.config.detect.encoder_steps, "criterion": "last step"}, {},
                  TrainedVariables(ENCODER_STAGE, variables_path=("encoder",)), DESCRIPTIONS["fanogan"])


def feature_detector(method: str, run: Run, trained: TrainedStages) -> Detector:
  del trained  # fitted on normal slices in one pass, in seconds; evaluation refits it identically
  variables = fit_feature_detector(method, np.asarray(run.normal_set.images), run.config.detect.pca_components,
                                   run.config.seed)
  return Detector(method, jax.jit(feature_detector_outputs(method)), variables, DEVIATION_HEATMAP,
                  {"criterion": "fitted once on normal training slices; nothing to select"}, {}, None,
                  DESCRIPTIONS[method])


def random_forest_detector(run: Run, trained: TrainedStages) -> Detector:
  del trained  # fitted in one pass on the real training split; evaluation refits it identically
  anomalous = (run.data.train_labels == run.data.dataset.anomalous_index).astype(np.int64)
  variables = forest.fit_random_forest(run.data.train_images, anomalous, run.config.detect.forest_trees, run.config.seed)
  return Detector("random_forest", jax.jit(forest.forest_outputs), variables, forest.FOREST_HEATMAP,
                  {"criterion": "fitted once on the training split; nothing to select"}, {}, None,
                  DESCRIPTIONS["random_forest"])


def atr_gan_detector(run: Run, trained: TrainedStages) -> Detector:
  minority = atr_gan.minority_set(run)
  gan = atr_gan.train_dcgan(run, minority)
  synthetic, augmentation = atr_gan.filtered_synthetic(run, gan.generator, trained.autoencoder, minority)
  training = classifier_training_set(run, synthetic)
  state, selection = train_classifier(run, trained, training)
  outputs = classifier_outputs(models.build_classifier(run.autoencoder), run.data.dataset.anomalous_index)
  return Detector("atr_gan", jax.jit(outputs), state.variables, _heatmap_kind(run), selection, training.added,
                  TrainedVariables(classifier_stage(run.config)),
                  f"{DESCRIPTIONS['atr_gan']}; {TRUNK_INITS[run.config.detect.classifier_init]}",
                  augmentation=augmentation)


def _dynamic_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, str]:
  threshold, z = aclae.dynamic_threshold(scores[labels == 0])
  return threshold, (f"non-parametric dynamic threshold (Hundman et al. 2018) on normal validation errors: "
                     f"mean + {z:g} std")


def aclae_detector(run: Run, trained: TrainedStages) -> Detector:
  del trained  # learns normal slices only
  state, model = aclae.train_aclae(run)
  outputs = functools.partial(aclae.reconstruction_errors, model, bands=run.config.detect.aclae_bands)
  return Detector("aclae_dt", jax.jit(outputs), state.variables, SIGNATURE_HEATMAP,
                  {"stage": aclae.STAGE, "step": int(jax.device_get(state.step)), "criterion": "last step"}, {},
                  TrainedVariables(aclae.STAGE), DESCRIPTIONS["aclae_dt"], threshold_rule=_dynamic_threshold)


BUILDERS: dict[str, Callable[[Run, TrainedStages], Detector]] = {
    "classifier": classifier_detector,
    "discriminator": discriminator_detector,
    "reconstruction": reconstruction_detector,
    "fanogan": fanogan_detector,
    "gda": functools.partial(feature_detector, "gda"),
    "isolation_forest": functools.partial(feature_detector, "isolation_forest"),
    "ocsvm": functools.partial(feature_detector, "ocsvm"),
    "random_forest": random_forest_detector,
    "atr_gan": atr_gan_detector,
    "aclae_dt": aclae_detector,
}


def build_detector(run: Run) -> Detector:
  """Trains (or restores) what the run's detect.method needs, and no stage more, and returns its detector."""
  trained = TrainedStages(run)
  detector = BUILDERS[run.config.detect.method](run, trained)
  return dataclasses.replace(detector, autoencoder=trained.summary.get("autoencoder"))
