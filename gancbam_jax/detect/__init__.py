"""Detection and evaluation: the four anomaly detectors, validation-only thresholds, metrics, figures, report.

  results = run_experiment(config, workdir)  # train (or resume), build config.detect.method, evaluate
  results = evaluate_workdir(workdir)        # the same results from a finished run's checkpoints

See experiment.py for the single-split and K-fold protocols and evaluation.py for the outputs.
"""

from gancbam_jax.detect.detectors import DESCRIPTIONS, Detector, build_detector
from gancbam_jax.detect.experiment import evaluate_workdir, headline, run_experiment
from gancbam_jax.detect.metrics import bootstrap_intervals, choose_threshold, detection_metrics
from gancbam_jax.detect.settings import METHODS, validate_detection_config
from gancbam_jax.train.loop import IncompleteRunError

__all__ = [
    "DESCRIPTIONS", "METHODS", "Detector", "IncompleteRunError", "bootstrap_intervals", "build_detector",
    "choose_threshold", "detection_metrics", "evaluate_workdir", "headline", "run_experiment",
    "validate_detection_config",
]
