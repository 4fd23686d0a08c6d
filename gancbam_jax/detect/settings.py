"""Checks of a config's detection and evaluation sections, each failing with the field's name."""

from __future__ import annotations

import ml_collections

from gancbam_jax.detect.detectors import BUILDERS
from gancbam_jax.detect.metrics import THRESHOLD_RULES
from gancbam_jax.train.settings import ConfigError

METHODS = tuple(BUILDERS)


def _require(condition: bool, field: str, message: str) -> None:
  if not condition:
    raise ConfigError(f"config field {field}: {message}")


def validate_detection_config(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first detect.* or eval.* field whose value cannot be used."""
  detect, evaluation = config.detect, config.eval
  _require(detect.method in METHODS, "detect.method", f"{detect.method!r} is not one of {METHODS}")
  for field in ("classifier_epochs", "encoder_steps"):
    _require(getattr(detect, field) >= 1, f"detect.{field}", f"must be at least 1, got {getattr(detect, field)}")
  _require(detect.classifier_learning_rate > 0, "detect.classifier_learning_rate",
           f"must be positive, got {detect.classifier_learning_rate}")
  _require(detect.fanogan_feature_weight >= 0, "detect.fanogan_feature_weight",
           f"must be non-negative, got {detect.fanogan_feature_weight}")
  _require(evaluation.folds >= 1, "eval.folds", f"must be 1 (one split) or a fold count >= 2, got {evaluation.folds}")
  _require(evaluation.threshold in THRESHOLD_RULES, "eval.threshold",
           f"{evaluation.threshold!r} is not one of {THRESHOLD_RULES}")
  _require(0.0 < evaluation.target_fpr < 1.0, "eval.target_fpr", f"must lie in (0, 1), got {evaluation.target_fpr}")
  _require(evaluation.bootstrap >= 0, "eval.bootstrap", f"must be 0 (none) or a resample count, got {evaluation.bootstrap}")
  _require(evaluation.timing_repeats >= 1, "eval.timing_repeats", f"must be at least 1, got {evaluation.timing_repeats}")
