"""Evaluation of an anomaly detector beyond scikit-learn: thresholds chosen on validation, patient-grouped intervals.

Label 1 is anomalous (positive), label 0 normal; a higher score means more anomalous, and a slice
is flagged anomalous when `score >= threshold`. Curves, areas and the confusion matrix are
scikit-learn's (`sklearn.metrics`); this module adds what it lacks: inputs checked with errors
that say what to fix, the validation-only threshold rules, point metrics at a fixed threshold,
percentile intervals from a bootstrap over patients, and summaries over folds. Every ratio whose
denominator is zero is 0.0, as scikit-learn's `zero_division=0`.

The protocol this module serves: choose the threshold with `choose_threshold` on validation scores
only, then report `detection_metrics` and `bootstrap_intervals` on test scores at that fixed
threshold. A threshold tuned on test labels would overstate every threshold-dependent metric.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn import metrics as skm

THRESHOLD_RULES = ("max_f1", "fixed_fpr")
CONFUSION_CELLS = ("tn", "fp", "fn", "tp")
INTERVAL_METRICS = ("accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "pr_auc")


def _checked(scores, labels) -> tuple[np.ndarray, np.ndarray]:
  """Scores as finite float64 and labels as int64 0/1, both 1-D and of one length; ValueError otherwise."""
  scores, labels = np.asarray(scores), np.asarray(labels)
  for name, values in (("scores", scores), ("labels", labels)):
    if values.ndim != 1:
      raise ValueError(f"{name} must be 1-D (one value per slice), got shape {values.shape}; flatten it first")
    if values.dtype.kind not in "biuf":
      raise ValueError(f"{name} must be numeric, got dtype {values.dtype}")
  if len(scores) != len(labels):
    raise ValueError(f"scores and labels differ in length ({len(scores)} vs {len(labels)}); "
                     "pass exactly one label per scored slice")
  if len(scores) == 0:
    raise ValueError("scores and labels are empty; there is nothing to evaluate")
  scores = scores.astype(np.float64)
  not_finite = int(np.count_nonzero(~np.isfinite(scores)))
  if not_finite:
    raise ValueError(f"scores contain {not_finite} NaN or infinite value(s); fix the scoring (a division by "
                     "zero, an overflow) before evaluating")
  outside = np.setdiff1d(labels, (0, 1))
  if outside.size:
    raise ValueError(f"labels must be 0 (normal) or 1 (anomalous), got also {outside[:5].tolist()}; "
                     "binarise them first")
  return scores, labels.astype(np.int64)


def _require_both_classes(labels: np.ndarray, purpose: str) -> None:
  n_anomalous = int(labels.sum())
  if n_anomalous == 0 or n_anomalous == len(labels):
    present = "anomalous (1)" if n_anomalous else "normal (0)"
    raise ValueError(f"labels contain only one class, {present}; {purpose} needs both normal (0) and "
                     "anomalous (1) slices")


def _checked_threshold(threshold) -> float:
  threshold = float(threshold)
  if np.isnan(threshold):
    raise ValueError("threshold is NaN; choose it with choose_threshold on validation scores")
  return threshold


def _at_thresholds(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """The distinct scores in descending order, with the true and false positives flagged at each as threshold.

  Read off scikit-learn's full ROC curve (a run of tied scores is one point: a threshold flags all
  of a tie or none of it); the rates times the class sizes give back the integer counts.
  """
  fpr, tpr, thresholds = skm.roc_curve(labels, scores, drop_intermediate=False)
  n_anomalous = int(labels.sum())
  return (thresholds[1:], np.rint(tpr[1:] * n_anomalous).astype(np.int64),
          np.rint(fpr[1:] * (len(labels) - n_anomalous)).astype(np.int64))


def choose_threshold(scores, labels, rule: str = "max_f1", target_fpr: float = 0.05) -> float:
  """The decision threshold chosen by `rule` on validation scores; call it with validation data only.

  `rule` picks which validation slices to flag:
  `max_f1`: those maximising F1, the fewest of tied maxima (fewer false alarms).
  `fixed_fpr`: the most whose false-positive rate is at most `target_fpr`, which maximises recall
  within that budget; none when even the highest score exceeds the budget (the threshold is then a
  value just above the highest score).
  The threshold lies halfway between the lowest flagged score and the highest unflagged one (the
  lowest flagged score when every slice is flagged): it flags the same validation slices, with the
  widest margin to both. On the lowest flagged score itself, any test slice scored a little below
  the validation slice that set it is missed; with a few validation slices per fold that slice is
  chance. Over 13 classifier runs on siim-ct-dev's 5 folds, mean test F1 0.752 on the score and
  0.775 halfway (docs/detection.md).
  """
  if rule not in THRESHOLD_RULES:
    raise ValueError(f"unknown threshold rule {rule!r}; use one of {', '.join(THRESHOLD_RULES)}")
  if rule == "fixed_fpr" and not 0.0 <= target_fpr <= 1.0:
    raise ValueError(f"target_fpr is a false-positive rate and must lie in [0, 1], got {target_fpr}")
  scores, labels = _checked(scores, labels)
  _require_both_classes(labels, "choosing a threshold")
  thresholds, true_positives, false_positives = _at_thresholds(scores, labels)
  n_anomalous = int(labels.sum())
  if rule == "max_f1":
    # F1 = 2 tp / (2 tp + fp + fn) with fn = n_anomalous - tp; argmax takes the first, highest, threshold.
    f1 = 2.0 * true_positives / (true_positives + false_positives + n_anomalous)
    cut = int(np.argmax(f1))
  else:
    within_budget = np.flatnonzero(false_positives / (len(labels) - n_anomalous) <= target_fpr)
    if within_budget.size == 0:
      return float(np.nextafter(thresholds[0], np.inf))
    # False positives only grow as the threshold falls, so the budget holds on a prefix; take its end.
    cut = int(within_budget[-1])
  lowest_flagged = thresholds[cut]
  if cut + 1 == len(thresholds):
    return float(lowest_flagged)
  highest_unflagged = thresholds[cut + 1]
  halfway = (lowest_flagged + highest_unflagged) / 2.0
  # Two neighbouring floats have no value between them; the midpoint then rounds onto one of them.
  return float(halfway if halfway > highest_unflagged else lowest_flagged)


def _confusion(flagged: np.ndarray, labels: np.ndarray) -> dict[str, int]:
  cells = skm.confusion_matrix(labels, flagged.astype(np.int64), labels=[0, 1]).ravel()
  return dict(zip(CONFUSION_CELLS, (int(count) for count in cells)))


def confusion_counts(scores, labels, threshold) -> dict[str, int]:
  """Counts of true negatives, false positives, false negatives and true positives at `threshold`."""
  scores, labels = _checked(scores, labels)
  return _confusion(scores >= _checked_threshold(threshold), labels)


def _ratio(numerator: int, denominator: int) -> float:
  return numerator / denominator if denominator else 0.0


def _from_confusion(counts: dict[str, int]) -> dict:
  tn, fp, fn, tp = (counts[cell] for cell in CONFUSION_CELLS)
  n = tn + fp + fn + tp
  return {
      "accuracy": _ratio(tp + tn, n),
      "precision": _ratio(tp, tp + fp),
      "recall": _ratio(tp, tp + fn),
      "f1": _ratio(2 * tp, 2 * tp + fp + fn),
      "specificity": _ratio(tn, tn + fp),
      "confusion_matrix": counts,
      "prevalence": _ratio(tp + fn, n),
      "n": n,
  }


def binary_metrics(scores, labels, threshold) -> dict:
  """Accuracy, precision, recall, F1, specificity, the confusion counts, prevalence and n at `threshold`."""
  scores, labels = _checked(scores, labels)
  return _from_confusion(_confusion(scores >= _checked_threshold(threshold), labels))


def _areas(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
  """ROC AUC and PR AUC (scikit-learn's average precision: a step-wise sum, no interpolation)."""
  return {"roc_auc": float(skm.roc_auc_score(labels, scores)),
          "pr_auc": float(skm.average_precision_score(labels, scores))}


def detection_metrics(scores, labels, threshold) -> dict:
  """`binary_metrics` at `threshold` plus the threshold-free ROC AUC and PR AUC (average precision)."""
  scores, labels = _checked(scores, labels)
  _require_both_classes(labels, "detection metrics (ROC AUC and PR AUC)")
  return {**_from_confusion(_confusion(scores >= _checked_threshold(threshold), labels)), **_areas(scores, labels)}


def _cluster_draws(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Slice indices ordered by group, where each group starts in that order, and each group's size."""
  by_group = np.argsort(codes, kind="stable")
  sizes = np.bincount(codes)
  return by_group, np.cumsum(sizes) - sizes, sizes


def bootstrap_intervals(scores, labels, threshold, groups=None, n_resamples: int = 1000, level: float = 0.95,
                        seed: int = 0) -> dict[str, list[float] | int]:
  """Percentile bootstrap intervals [low, high] of the `INTERVAL_METRICS` at the fixed `threshold`.

  With `groups` (a patient id per slice) whole patients are resampled with replacement, keeping all
  their slices together: slices of one patient are correlated, and resampling them independently
  would give intervals that are too narrow. Without `groups`, slices are resampled.

  A resample holding a single class (AUC undefined) is skipped, not redrawn, so the intervals are
  conditional on both classes being present; "n_resamples" is the number of resamples used and
  "n_skipped" the number skipped. Reproducible for a `seed`.
  """
  scores, labels = _checked(scores, labels)
  _require_both_classes(labels, "bootstrap intervals")
  threshold = _checked_threshold(threshold)
  if n_resamples < 1:
    raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
  if not 0.0 < level < 1.0:
    raise ValueError(f"level is a confidence level and must lie in (0, 1), got {level}")
  rng = np.random.default_rng(seed)
  if groups is None:
    codes = np.arange(len(labels))
  else:
    groups = np.asarray(groups)
    if groups.shape != labels.shape:
      raise ValueError(f"groups must hold one patient id per slice, shape {labels.shape}, got {groups.shape}")
    codes = np.unique(groups, return_inverse=True)[1]
  by_group, starts, sizes = _cluster_draws(codes)
  flagged = scores >= threshold
  values = {name: [] for name in INTERVAL_METRICS}
  for _ in range(n_resamples):
    drawn = rng.integers(0, len(sizes), size=len(sizes))
    drawn_sizes = sizes[drawn]
    # Position of each resampled slice inside its drawn group, so a drawn group contributes all its slices.
    within = np.arange(drawn_sizes.sum()) - np.repeat(np.cumsum(drawn_sizes) - drawn_sizes, drawn_sizes)
    resample = by_group[np.repeat(starts[drawn], drawn_sizes) + within]
    resampled_labels = labels[resample]
    n_anomalous = int(resampled_labels.sum())
    if n_anomalous == 0 or n_anomalous == len(resample):
      continue
    metrics = {**_from_confusion(_confusion(flagged[resample], resampled_labels)),
               **_areas(scores[resample], resampled_labels)}
    for name in INTERVAL_METRICS:
      values[name].append(metrics[name])
  n_valid = len(values["roc_auc"])
  if n_valid == 0:
    raise ValueError(f"all {n_resamples} resamples held a single class; the data has too few slices or patients "
                     "of one class for a bootstrap")
  tail = 100.0 * (1.0 - level) / 2.0
  intervals: dict[str, list[float] | int] = {
      name: np.percentile(values[name], [tail, 100.0 - tail]).tolist() for name in INTERVAL_METRICS}
  intervals["n_resamples"] = n_valid
  intervals["n_skipped"] = n_resamples - n_valid
  return intervals


def _is_number(value) -> bool:
  return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def numeric_in_every_fold(per_fold: list[dict], keys) -> list[str]:
  """The keys among `keys` that hold a number in every fold (optional checks that some runs lack)."""
  return [key for key in keys if all(_is_number(fold.get(key)) for fold in per_fold)]


def summarize_folds(per_fold: list[dict], keys=None) -> dict:
  """Mean and standard deviation over cross-validation folds of each numeric metric, and the summed confusion counts.

  `keys` defaults to every metric that is a number in all folds. The standard deviation is the
  sample one (ddof=1), conventional for reporting spread over folds; it is 0.0 for a single fold.
  "confusion_matrix" sums the folds' counts when every fold has them: each slice is tested in
  exactly one fold, so the sum is the confusion matrix of the whole dataset.
  """
  if not per_fold:
    raise ValueError("per_fold is empty; pass the metrics dict of at least one fold")
  if keys is None:
    keys = numeric_in_every_fold(per_fold, per_fold[0])
  else:
    keys = list(keys)
    for k, fold in enumerate(per_fold):
      unusable = [key for key in keys if not _is_number(fold.get(key))]
      if unusable:
        raise ValueError(f"fold {k} lacks a numeric value for {unusable}; pass keys every fold has")
  values = np.array([[float(fold[key]) for key in keys] for fold in per_fold], dtype=np.float64).reshape(
      len(per_fold), len(keys))
  spread = values.std(axis=0, ddof=1) if len(per_fold) >= 2 else np.zeros(len(keys))
  summary = {
      "mean": dict(zip(keys, values.mean(axis=0).tolist())),
      "std": dict(zip(keys, spread.tolist())),
      "n_folds": len(per_fold),
  }
  if all(isinstance(fold.get("confusion_matrix"), dict) for fold in per_fold):
    summary["confusion_matrix"] = {
        cell: int(sum(fold["confusion_matrix"][cell] for fold in per_fold)) for cell in CONFUSION_CELLS}
  return summary
