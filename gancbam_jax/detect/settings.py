"""Checks of a config's detection and evaluation sections, each failing with the field's name."""

from __future__ import annotations

import ml_collections

from gancbam_jax.detect.classifier import REBALANCING, SELECTION_CRITERIA, TRUNK_INITS
from gancbam_jax.detect.detectors import BUILDERS
from gancbam_jax.detect.metrics import THRESHOLD_RULES
from gancbam_jax.methods import peer_names
from gancbam_jax.train.settings import require

METHODS = tuple(BUILDERS)


def validate_detection_config(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first detect.* or eval.* field whose value cannot be used."""
  detect, evaluation = config.detect, config.eval
  require(detect.method in METHODS, "detect.method", f"{detect.method!r} is not one of {METHODS}")
  require(detect.rebalance in REBALANCING, "detect.rebalance", f"{detect.rebalance!r} is not one of {REBALANCING}")
  for field in ("classifier_epochs", "encoder_steps", "pca_components", "forest_trees", "atr_gan_steps", "aclae_steps"):
    require(getattr(detect, field) >= 1, f"detect.{field}", f"must be at least 1, got {getattr(detect, field)}")
  require(detect.classifier_learning_rate > 0, "detect.classifier_learning_rate",
          f"must be positive, got {detect.classifier_learning_rate}")
  require(detect.classifier_weight_decay >= 0, "detect.classifier_weight_decay",
          f"must be non-negative, got {detect.classifier_weight_decay}")
  require(detect.classifier_selection in SELECTION_CRITERIA, "detect.classifier_selection",
          f"{detect.classifier_selection!r} is not one of {tuple(SELECTION_CRITERIA)}")
  require(detect.classifier_init in TRUNK_INITS, "detect.classifier_init",
          f"{detect.classifier_init!r} is not one of {tuple(TRUNK_INITS)}")
  require(0.0 <= detect.synthetic_share <= 1.0, "detect.synthetic_share",
          f"must be a share in [0, 1], got {detect.synthetic_share}")
  require(detect.fanogan_feature_weight >= 0, "detect.fanogan_feature_weight",
          f"must be non-negative, got {detect.fanogan_feature_weight}")
  bands, size = detect.aclae_bands, config.data.image_size
  require(bands >= 1 and size % bands == 0, "detect.aclae_bands",
          f"must divide data.image_size ({size}) into column bands of equal width, got {bands}")
  require(evaluation.folds >= 1, "eval.folds", f"must be 1 (one split) or a fold count >= 2, got {evaluation.folds}")
  require(evaluation.threshold in THRESHOLD_RULES, "eval.threshold",
          f"{evaluation.threshold!r} is not one of {THRESHOLD_RULES}")
  require(0.0 < evaluation.target_fpr < 1.0, "eval.target_fpr", f"must lie in (0, 1), got {evaluation.target_fpr}")
  require(evaluation.bootstrap >= 0, "eval.bootstrap", f"must be 0 (none) or a resample count, got {evaluation.bootstrap}")
  require(evaluation.timing_repeats >= 1, "eval.timing_repeats", f"must be at least 1, got {evaluation.timing_repeats}")
  peer_names(evaluation.peers)
