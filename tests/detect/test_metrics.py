"""Point metrics at a threshold; thresholds come from validation alone; bootstrap intervals and fold summaries."""

import numpy as np
import pytest
from sklearn import metrics as sk

from gancbam_jax.detect.metrics import (THRESHOLD_RULES, binary_metrics, bootstrap_intervals, choose_threshold,
                                        confusion_counts, detection_metrics, summarize_folds)


def _scored(kind, seed=0):
  """Scores and labels: anomalous slices score higher on average; `kind` picks ties or imbalance."""
  rng = np.random.default_rng(seed)
  if kind == "imbalanced":
    labels = (rng.random(120) < 0.1).astype(int)
    labels[:2] = 1  # both classes, whatever the draw
  else:
    labels = rng.integers(0, 2, size=80)
    labels[:2] = (0, 1)
  scores = rng.normal(size=len(labels)) + 1.2 * labels
  if kind == "ties":
    scores = np.round(scores)  # a handful of distinct values, each shared by many slices
  elif kind == "all_tied":
    scores = np.full(len(labels), 0.25)
  return scores, labels


KINDS = ("continuous", "ties", "imbalanced", "all_tied")


def _thresholds_to_try(scores):
  """Nothing flagged, everything flagged, a value shared by ties, and values between scores."""
  return [scores.max() + 1.0, scores.min(), np.median(scores), float(np.sort(scores)[len(scores) // 3]),
          float(np.mean(scores))]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_threshold_metrics_match_scikit_learn(kind, seed):
  scores, labels = _scored(kind, seed)
  for threshold in _thresholds_to_try(scores):
    predicted = (scores >= threshold).astype(int)
    metrics = binary_metrics(scores, labels, threshold)
    assert metrics["accuracy"] == pytest.approx(sk.accuracy_score(labels, predicted))
    assert metrics["precision"] == pytest.approx(sk.precision_score(labels, predicted, zero_division=0))
    assert metrics["recall"] == pytest.approx(sk.recall_score(labels, predicted, zero_division=0))
    assert metrics["f1"] == pytest.approx(sk.f1_score(labels, predicted, zero_division=0))
    assert metrics["specificity"] == pytest.approx(sk.recall_score(labels, predicted, pos_label=0, zero_division=0))
    tn, fp, fn, tp = sk.confusion_matrix(labels, predicted, labels=[0, 1]).ravel().tolist()
    assert metrics["confusion_matrix"] == {"tn": tn, "fp": fp, "fn": fn, "tp": tp}
    assert confusion_counts(scores, labels, threshold) == metrics["confusion_matrix"]
    assert metrics["prevalence"] == pytest.approx(labels.mean())
    assert metrics["n"] == len(labels)


def test_degenerate_thresholds_flag_nothing_or_everything():
  scores, labels = _scored("continuous")
  nothing = binary_metrics(scores, labels, scores.max() + 1.0)
  assert nothing["confusion_matrix"]["tp"] + nothing["confusion_matrix"]["fp"] == 0
  assert nothing["precision"] == nothing["recall"] == nothing["f1"] == 0.0 and nothing["specificity"] == 1.0
  everything = binary_metrics(scores, labels, scores.min())
  assert everything["confusion_matrix"]["tn"] + everything["confusion_matrix"]["fn"] == 0
  assert everything["recall"] == 1.0 and everything["specificity"] == 0.0
  assert everything["precision"] == pytest.approx(labels.mean())


def test_binary_metrics_accept_a_single_class_like_scikit_learn():
  scores = np.array([0.1, 0.4, 0.7, 0.9])
  labels = np.zeros(4, dtype=int)
  metrics = binary_metrics(scores, labels, 0.5)
  predicted = (scores >= 0.5).astype(int)
  assert metrics["precision"] == sk.precision_score(labels, predicted, zero_division=0) == 0.0
  assert metrics["recall"] == sk.recall_score(labels, predicted, zero_division=0) == 0.0
  assert metrics["specificity"] == 0.5


def test_detection_metrics_add_the_threshold_free_areas():
  scores, labels = _scored("ties")
  metrics = detection_metrics(scores, labels, np.median(scores))
  assert metrics["roc_auc"] == sk.roc_auc_score(labels, scores)
  assert metrics["pr_auc"] == sk.average_precision_score(labels, scores)
  assert {k: v for k, v in metrics.items() if k not in ("roc_auc", "pr_auc")} == binary_metrics(
      scores, labels, np.median(scores))


def _flagged_as_by(scores, chosen):
  """The distinct validation score whose threshold flags what chosen flags, and the next lower one (or None)."""
  candidates = np.unique(scores)
  lowest_flagged = candidates[candidates >= chosen].min()
  below = candidates[candidates < chosen]
  return lowest_flagged, (below.max() if below.size else None)


def _halfway_below(scores, chosen) -> bool:
  """Whether chosen lies halfway between the lowest score it flags and the highest it does not."""
  lowest_flagged, highest_unflagged = _flagged_as_by(scores, chosen)
  if highest_unflagged is None:
    return chosen == lowest_flagged
  return chosen == pytest.approx((lowest_flagged + highest_unflagged) / 2, rel=0, abs=1e-12)


@pytest.mark.parametrize("kind", ("continuous", "ties", "imbalanced"))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_max_f1_threshold_attains_the_best_f1_over_all_candidates(kind, seed):
  scores, labels = _scored(kind, seed)
  candidates = np.unique(scores)
  f1 = np.array([sk.f1_score(labels, (scores >= c).astype(int), zero_division=0) for c in candidates])
  chosen = choose_threshold(scores, labels, "max_f1")
  best = candidates[np.isclose(f1, f1.max(), rtol=0, atol=1e-12)]
  # The highest of tied maxima (fewer false alarms) flags what the threshold flags.
  assert _flagged_as_by(scores, chosen)[0] == best.max()
  assert sk.f1_score(labels, scores >= chosen) == pytest.approx(f1.max())
  assert _halfway_below(scores, chosen)


def test_max_f1_breaks_ties_towards_the_higher_threshold_and_sits_halfway_below_it():
  # Flagging 0.9 alone finds one of two anomalous slices (F1 = 2/3); flagging all four slices does too.
  scores = np.array([0.1, 0.2, 0.5, 0.9])
  labels = np.array([1, 0, 0, 1])
  assert sk.f1_score(labels, scores >= 0.9) == pytest.approx(sk.f1_score(labels, scores >= 0.1))
  assert choose_threshold(scores, labels) == pytest.approx(0.7)


def test_a_threshold_that_flags_every_validation_slice_is_the_lowest_score():
  scores = np.array([0.2, 0.4, 0.6, 0.8])
  assert choose_threshold(scores, np.array([1, 1, 0, 1])) == 0.2


def test_the_threshold_falls_between_scores_a_classifier_saturates():
  # Probabilities of an overconfident classifier: the midpoint is 0.5, not the anomalous slice's 4.7e-6.
  scores = np.array([1e-9, 2e-9, 4.7e-6, 1.0 - 1e-7, 1.0])
  labels = np.array([0, 0, 0, 1, 1])
  assert choose_threshold(scores, labels) == pytest.approx((4.7e-6 + 1.0 - 1e-7) / 2)


def test_neighbouring_floats_keep_the_lowest_flagged_score():
  upper = 0.5
  lower = np.nextafter(upper, 0.0)
  assert choose_threshold(np.array([lower, upper]), np.array([0, 1])) == upper


@pytest.mark.parametrize("kind", ("continuous", "ties", "imbalanced"))
@pytest.mark.parametrize("target_fpr", [0.0, 0.05, 0.2, 0.5])
def test_fixed_fpr_threshold_flags_the_most_within_the_budget(kind, target_fpr):
  scores, labels = _scored(kind)
  chosen = choose_threshold(scores, labels, "fixed_fpr", target_fpr=target_fpr)
  counts = confusion_counts(scores, labels, chosen)
  assert counts["fp"] / (counts["fp"] + counts["tn"]) <= target_fpr
  negatives = scores[labels == 0]
  within = [c for c in np.unique(scores) if np.mean(negatives >= c) <= target_fpr]
  if within:
    assert _flagged_as_by(scores, chosen)[0] == min(within)
    assert _halfway_below(scores, chosen)
  else:
    assert chosen > scores.max()


def test_fixed_fpr_flags_nothing_when_the_top_score_is_already_a_false_alarm():
  scores = np.array([0.1, 0.3, 0.6, 0.9])
  labels = np.array([0, 1, 1, 0])
  chosen = choose_threshold(scores, labels, "fixed_fpr", target_fpr=0.25)
  assert chosen > scores.max()
  assert chosen == pytest.approx(scores.max())
  assert confusion_counts(scores, labels, chosen) == {"tn": 2, "fp": 0, "fn": 2, "tp": 0}


@pytest.mark.parametrize("rule", THRESHOLD_RULES)
def test_thresholds_never_depend_on_test_labels(rule):
  """The protocol: the threshold comes from validation; test labels only enter the reported metrics."""
  val_scores, val_labels = _scored("continuous", seed=3)
  test_scores, test_labels = _scored("continuous", seed=4)
  threshold = choose_threshold(val_scores, val_labels, rule, target_fpr=0.1)
  reported = detection_metrics(test_scores, test_labels, threshold)
  shuffled_labels = np.random.default_rng(5).permutation(test_labels)
  assert choose_threshold(val_scores, val_labels, rule, target_fpr=0.1) == threshold
  shuffled = detection_metrics(test_scores, shuffled_labels, threshold)
  assert shuffled["f1"] != reported["f1"] and shuffled["roc_auc"] != reported["roc_auc"]
  # Not vacuous: the threshold does follow the labels it is given, the validation ones.
  shuffled_val = np.random.default_rng(6).permutation(val_labels)
  assert choose_threshold(val_scores, shuffled_val, rule, target_fpr=0.1) != threshold


def _separable(n=300, seed=0):
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 2, size=n)
  return rng.normal(size=n) + 1.5 * labels, labels


def test_bootstrap_intervals_contain_the_point_estimates():
  scores, labels = _separable()
  point = detection_metrics(scores, labels, 0.75)
  intervals = bootstrap_intervals(scores, labels, 0.75, n_resamples=300, seed=1)
  assert intervals["n_resamples"] == 300 and intervals["n_skipped"] == 0
  for name in ("accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "pr_auc"):
    low, high = intervals[name]
    assert low < point[name] < high, name
    assert high - low < 0.25, name  # 300 slices pin every metric down to well within a quarter
  narrower = bootstrap_intervals(scores, labels, 0.75, n_resamples=300, level=0.5, seed=1)
  assert narrower["roc_auc"][1] - narrower["roc_auc"][0] < intervals["roc_auc"][1] - intervals["roc_auc"][0]


def test_bootstrap_is_reproducible_for_a_seed():
  scores, labels = _separable(n=100)
  first = bootstrap_intervals(scores, labels, 0.75, n_resamples=100, seed=7)
  assert bootstrap_intervals(scores, labels, 0.75, n_resamples=100, seed=7) == first
  assert bootstrap_intervals(scores, labels, 0.75, n_resamples=100, seed=8) != first


def test_grouped_bootstrap_resamples_whole_patients():
  """Each patient has 3 identical slices, shuffled: resampling patients is resampling one slice per patient."""
  per_patient_scores, per_patient_labels = _separable(n=40, seed=2)
  patients = np.array([f"p{i:02d}" for i in range(40)])  # sorted as the per-patient arrays
  order = np.random.default_rng(3).permutation(120)
  scores = np.repeat(per_patient_scores, 3)[order]
  labels = np.repeat(per_patient_labels, 3)[order]
  groups = np.repeat(patients, 3)[order]
  grouped = bootstrap_intervals(scores, labels, 0.75, groups=groups, n_resamples=200, seed=4)
  one_slice_each = bootstrap_intervals(per_patient_scores, per_patient_labels, 0.75, n_resamples=200, seed=4)
  assert grouped["n_resamples"] == one_slice_each["n_resamples"]
  for name in ("accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "pr_auc"):
    np.testing.assert_allclose(grouped[name], one_slice_each[name], rtol=1e-12, err_msg=name)
  # Treating the copies as independent slices understates the uncertainty.
  slices = bootstrap_intervals(scores, labels, 0.75, n_resamples=200, seed=4)
  assert slices["roc_auc"][1] - slices["roc_auc"][0] < grouped["roc_auc"][1] - grouped["roc_auc"][0]


def test_single_class_resamples_are_skipped_and_counted():
  scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.9])
  labels = np.array([0, 0, 0, 0, 0, 1])  # about a third of resamples miss the one anomalous slice
  intervals = bootstrap_intervals(scores, labels, 0.6, n_resamples=200, seed=0)
  assert 0 < intervals["n_skipped"] < 200
  assert intervals["n_resamples"] + intervals["n_skipped"] == 200
  assert intervals["roc_auc"][0] == 1.0  # every kept resample ranks the anomalous slice first


def _folds(n_folds):
  return [detection_metrics(*_scored("continuous", seed), 0.6) for seed in range(n_folds)]


def test_summarize_folds_matches_numpy():
  per_fold = _folds(4)
  summary = summarize_folds(per_fold)
  assert summary["n_folds"] == 4
  assert "confusion_matrix" not in summary["mean"]
  for name in ("accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "pr_auc", "prevalence"):
    values = [fold[name] for fold in per_fold]
    assert summary["mean"][name] == pytest.approx(np.mean(values))
    assert summary["std"][name] == pytest.approx(np.std(values, ddof=1))
  for cell in ("tn", "fp", "fn", "tp"):
    assert summary["confusion_matrix"][cell] == sum(fold["confusion_matrix"][cell] for fold in per_fold)
  chosen = summarize_folds(per_fold, keys=["roc_auc"])
  assert list(chosen["mean"]) == ["roc_auc"] and chosen["mean"]["roc_auc"] == summary["mean"]["roc_auc"]


def test_summarize_one_fold_has_zero_spread():
  summary = summarize_folds(_folds(1))
  assert summary["std"]["f1"] == 0.0 and summary["mean"]["f1"] == _folds(1)[0]["f1"]


def test_summarize_folds_rejects_missing_or_non_numeric_keys():
  with pytest.raises(ValueError, match="fold 0 lacks"):
    summarize_folds(_folds(2), keys=["confusion_matrix"])
  with pytest.raises(ValueError, match="empty"):
    summarize_folds([])


def test_one_class_labels_are_rejected_where_a_metric_needs_both():
  scores = np.array([0.1, 0.5, 0.9])
  with pytest.raises(ValueError, match="only one class, normal"):
    choose_threshold(scores, [0, 0, 0])
  with pytest.raises(ValueError, match="only one class, anomalous"):
    detection_metrics(scores, [1, 1, 1], 0.5)
  with pytest.raises(ValueError, match="only one class"):
    bootstrap_intervals(scores, [0, 0, 0], 0.5)


def test_malformed_inputs_are_rejected_with_the_problem_named():
  scores, labels = np.array([0.1, 0.5, 0.9]), np.array([0, 1, 1])
  with pytest.raises(ValueError, match="differ in length"):
    binary_metrics(scores, labels[:2], 0.5)
  with pytest.raises(ValueError, match="NaN"):
    choose_threshold([0.1, np.nan, 0.9], labels)
  with pytest.raises(ValueError, match="NaN"):
    detection_metrics([0.1, np.inf, 0.9], labels, 0.5)
  with pytest.raises(ValueError, match="unknown threshold rule 'youden'.*max_f1, fixed_fpr"):
    choose_threshold(scores, labels, "youden")
  with pytest.raises(ValueError, match="labels must be 0"):
    binary_metrics(scores, [0, 1, 2], 0.5)
  with pytest.raises(ValueError, match="1-D"):
    detection_metrics(scores.reshape(3, 1), labels, 0.5)
  with pytest.raises(ValueError, match="target_fpr"):
    choose_threshold(scores, labels, "fixed_fpr", target_fpr=1.5)
  with pytest.raises(ValueError, match="groups"):
    bootstrap_intervals(scores, labels, 0.5, groups=["a", "b"])
