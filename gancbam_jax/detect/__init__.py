"""Detection and evaluation: the anomaly detectors, validation-only thresholds, metrics, figures, report.

  detector = build_detector(run)            # config.detect.method on a prepared run's trained stages
  evaluation = evaluate(run, detector)      # thresholds on validation, test metrics, scores, report

gancbam_jax.experiment runs both on one split or over K folds; evaluation.py lists the outputs.
"""

from gancbam_jax.detect.detectors import DESCRIPTIONS, Detector, build_detector
from gancbam_jax.detect.evaluation import Evaluation, evaluate
from gancbam_jax.detect.metrics import bootstrap_intervals, choose_threshold, detection_metrics
from gancbam_jax.detect.settings import METHODS, validate_detection_config
from gancbam_jax.train.loop import IncompleteRunError

__all__ = [
    "DESCRIPTIONS", "METHODS", "Detector", "Evaluation", "IncompleteRunError", "bootstrap_intervals",
    "build_detector", "choose_threshold", "detection_metrics", "evaluate", "validate_detection_config",
]
