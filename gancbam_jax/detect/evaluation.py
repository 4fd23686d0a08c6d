"""Evaluation of one trained detector on one split: validation-only threshold, test metrics, figures, report.

The order is the protocol. Validation slices are scored and the threshold is chosen on them (and
the checkpoint was selected on them during training); only then are the test slices read, scored
once and compared with their labels. Synthetic slices never enter: validation and test come from
the dataset's own split. Writes into the run's workdir: results.json, scores.csv (every
validation and test slice with its score), report.md and the figures under plots/.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib

import numpy as np
from sklearn import metrics as skm

from gancbam_jax.data.pseudonyms import pseudonym, run_key
from gancbam_jax.data.readers import describe_inputs
from gancbam_jax.data.source import label_meaning
from gancbam_jax.detect import figures
from gancbam_jax.detect.detectors import Detector
from gancbam_jax.detect.metrics import bootstrap_intervals, choose_threshold, detection_metrics
from gancbam_jax.detect.report import write_report
from gancbam_jax.detect.timing import detection_times
from gancbam_jax.train.metrics_log import read_metrics
from gancbam_jax.train.pipeline import Run

OVERLAYS_PER_OUTCOME = 2
OUTCOMES = ("true positive", "false positive", "false negative", "true negative")
FLAGGED_OUTCOMES = ("true positive", "false positive")


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """A detector's results (results.json) and its test scores, for figures that pool folds."""

  results: dict
  test_scores: np.ndarray
  test_labels: np.ndarray  # 1 = anomalous


def threshold_rule(eval_config) -> str:
  """How choose_threshold placed the threshold, in the words of results.json, the report and the export manifest."""
  if eval_config.threshold == "max_f1":
    flagged = "maximum F1 on validation"
  else:
    flagged = f"highest recall with false-positive rate <= {eval_config.target_fpr:g} on validation"
  return f"{flagged}, halfway between the lowest flagged and the highest unflagged validation score"


def describe_data(run: Run) -> dict:
  """Dataset, label meaning and split sizes: the results' account of what was evaluated."""
  dataset, meaning, proxy = label_meaning(run.config.data)
  loaded = run.data.dataset
  return {"dataset": dataset, "label_meaning": meaning, "label_is_proxy": proxy,
          "inputs": describe_inputs(loaded.report.inputs, loaded.settings), "splits": run.data.summary()["splits"]}


def generated_image_checks(augmentation: dict) -> dict:
  """Per augmented class: diversity and nearest-real distances of the synthetic training images."""
  keys = {"diversity": "synthetic_mean_pairwise_rms", "real_diversity": "real_mean_pairwise_rms",
          "nearest_real": "synthetic_nearest_real_rms_mean", "nearest_real_min": "synthetic_nearest_real_rms_min",
          "real_nearest_real": "real_nearest_other_real_rms_mean"}
  return {name: {ours: entry.get(theirs) for ours, theirs in keys.items()}
          for name, entry in augmentation["per_class"].items() if entry["synthetic"]}


def _patient_column(run: Run):
  """What scores.csv writes for a patient: the run's keyed pseudonym, or the PatientID with eval.real_patient_ids."""
  if run.config.eval.real_patient_ids:
    return str
  key = run_key(run.workdir)
  return lambda patient_id: pseudonym(patient_id, key)


def _write_scores(path: pathlib.Path, rows: list[tuple]) -> None:
  with path.open("w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["split", "slice_index", "patient", "anomalous", "score", "flagged"])
    writer.writerows(rows)


def _overlay_examples(images: np.ndarray, heatmaps: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                      threshold: float) -> list[dict]:
  """The most confident test slices of each outcome (TP, FP, FN, TN), with their heatmaps."""
  flagged = scores >= threshold
  masks = {"true positive": flagged & (labels == 1), "false positive": flagged & (labels == 0),
           "false negative": ~flagged & (labels == 1), "true negative": ~flagged & (labels == 0)}
  examples = []
  for outcome in OUTCOMES:
    index = np.flatnonzero(masks[outcome])
    # Flagged slices by highest score, the others by lowest: the detector's most confident calls.
    order = index[np.argsort(-scores[index] if outcome in FLAGGED_OUTCOMES else scores[index])]
    examples += [{"image": images[i], "heatmap": heatmaps[i], "caption": f"{outcome}, score {scores[i]:.3g}"}
                 for i in order[:OVERLAYS_PER_OUTCOME]]
  return examples


def _figures(run: Run, detector: Detector, results: dict, test: tuple) -> dict[str, str]:
  """Writes the run's evaluation figures; returns name -> path relative to the workdir."""
  images, scores, labels, heatmaps = test
  plots, written = run.workdir / "plots", {}

  def add(name: str, filename: str, plot, *args, **kwargs) -> None:
    plot(*args, path=plots / filename, **kwargs)
    written[name] = f"plots/{filename}"

  records = read_metrics(run.workdir)
  if records:  # the feature baselines train no stage
    add("loss curves of every stage", "stage_losses.png", figures.plot_stage_losses, records)
  if detector.method in ("classifier", "atr_gan"):  # the plot keeps the records of the classifier's stage
    for metric, figure in (("accuracy", "Fig. 3"), ("loss", "Fig. 4")):
      add(f"classifier {metric} per epoch ({figure})", f"classifier_{metric}.png", figures.plot_epoch_curves, records,
          metric, title=f"classifier {metric} per epoch", selected_epoch=detector.selection.get("epoch"),
          stage=detector.trained.stage)
  fpr, tpr, _ = skm.roc_curve(labels, scores)
  add("ROC (Fig. 5)", "roc.png", figures.plot_roc, {detector.method: (fpr, tpr, results["roc_auc"])},
      operating_point=(1.0 - results["specificity"], results["recall"]))
  precision, recall, _ = skm.precision_recall_curve(labels, scores)
  add("precision-recall", "precision_recall.png", figures.plot_precision_recall,
      {detector.method: (recall, precision, results["pr_auc"])}, prevalence=results["prevalence"],
      operating_point=(results["recall"], results["precision"]))
  add("detection time (Fig. 6)", "detection_time.png", figures.plot_detection_time, results)
  add("test metrics (Fig. 7)", "metrics.png", figures.plot_metric_bars, results,
      intervals=results.get("confidence_intervals"), title=f"{detector.method}: test metrics")
  if (run.workdir / "plots" / "augmentation.png").exists():
    written["generated samples per class beside real ones"] = "plots/augmentation.png"
  add(f"test slices with {detector.heatmap}", "attention_overlays.png", figures.plot_attention_overlays,
      _overlay_examples(images, heatmaps, scores, labels, results["threshold"]),
      title=f"{detector.method}: {detector.heatmap}")
  return written


def evaluate(run: Run, detector: Detector, fold: tuple[int, int] | None = None, write: bool = True,
             peers: dict | None = None, timed: bool = True) -> Evaluation:
  """Thresholds on validation, metrics on test, timing; writes results, scores, figures and report.

  A single split (`fold` None) gets bootstrap intervals; fold k of K leaves the spread to the folds.
  `peers`, other methods' results on the same split, are reported beside the detector's. Without
  `timed` the detection-time measurement (dozens of timed calls) is skipped.
  """
  cfg, batch_size = run.config.eval, run.config.train.batch_size
  anomalous = run.data.dataset.anomalous_index
  val_labels = (run.data.val_labels == anomalous).astype(np.int64)
  val_scores, _ = detector.score(run.data.val_images, batch_size)
  if detector.threshold_rule is None:
    threshold, rule = choose_threshold(val_scores, val_labels, cfg.threshold, cfg.target_fpr), threshold_rule(cfg)
  else:
    threshold, rule = detector.threshold_rule(val_scores, val_labels)

  test_images, test_classes = run.data.test_images()
  test_labels = (test_classes == anomalous).astype(np.int64)
  test_scores, test_heatmaps = detector.score(test_images, batch_size)
  results = {"method": detector.method, "method_description": detector.description, **describe_data(run),
             "evaluation": "single split" if fold is None else f"fold {fold[0] + 1} of {fold[1]}",
             "added_training_images": detector.added_training_images,
             "threshold": threshold, "threshold_rule": rule,
             **detection_metrics(test_scores, test_labels, threshold),
             "validation": detection_metrics(val_scores, val_labels, threshold),
             "selected_checkpoint": detector.selection, "heatmap": detector.heatmap}
  if timed:
    results.update(detection_times(detector, run.config.data.image_size, cfg.timing_repeats,
                                   channels=len(run.config.data.hu_windows)))
  if detector.autoencoder:
    results["autoencoder"] = detector.autoencoder
    results["autoencoder_val_mse_ratio"] = detector.autoencoder["val_mse_ratio"]
    results["pca_val_mse_ratio"] = detector.autoencoder["pca_val_mse_ratio"]
  if detector.augmentation:
    results["generated"] = generated_image_checks(detector.augmentation)
    if "quality" in detector.augmentation:
      results["generated_quality"] = detector.augmentation["quality"]
      results["c2st_roc_auc"] = detector.augmentation["quality"]["all_classes"]["c2st_roc_auc"]
    if "filter" in detector.augmentation:  # ATR-GAN: how many candidates its filter kept, and its band
      results["synthetic_filter"] = detector.augmentation["filter"]
  results["n_test"] = results.pop("n")
  if peers:
    results["peers"] = peers
  if fold is None and cfg.bootstrap:
    results["confidence_intervals"] = bootstrap_intervals(test_scores, test_labels, threshold,
                                                          groups=run.data.patient_ids("test"),
                                                          n_resamples=cfg.bootstrap, seed=run.config.seed)
  if write:
    patient = _patient_column(run)
    _write_scores(run.workdir / "scores.csv",
                  [(name, int(i), patient(p), int(y), float(s), int(s >= threshold))
                   for name, indices, labels, scores in (("val", run.data.split.val, val_labels, val_scores),
                                                         ("test", run.data.split.test, test_labels, test_scores))
                   for i, p, y, s in zip(indices, run.data.dataset.patient_ids[indices], labels, scores)])
    written = _figures(run, detector, results, (test_images, test_scores, test_labels, test_heatmaps))
    (run.workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_report(results, run.workdir / "report.md", written)
  return Evaluation(results, test_scores, test_labels)
