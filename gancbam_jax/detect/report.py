"""The Markdown evaluation report: data and labels, protocol, results, timing, generated images, the paper's Table I.

`write_report` renders the content of results.json. Optional keys that are absent leave out the
part of the report they feed. Our metrics appear in percent to 1 decimal; the paper's Table I
keeps the 2 decimals it was printed with.
"""

from __future__ import annotations

import math
import os
import pathlib
from typing import Mapping, NamedTuple

# Results rows, in this order, with their names in the report.
METRIC_NAMES = {"accuracy": "accuracy", "precision": "precision", "recall": "recall (sensitivity)", "f1": "F1",
                "specificity": "specificity", "roc_auc": "ROC AUC", "pr_auc": "PR AUC (average precision)"}
REQUIRED_KEYS = ("method", "dataset", "label_meaning")
# Generated/real diversity below this ratio reads as possible mode collapse.
MODE_COLLAPSE_RATIO = 0.5
# The closest generated-to-real distance below this fraction of the typical real-to-real nearest
# distance reads as possible memorisation (a generated image nearly copies a training slice).
MEMORISATION_RATIO = 0.5
PAPER_DATASET_SLICES = 100
# A two-sample test ROC-AUC at or below this reads as generated slices that are hard to tell from real ones.
C2ST_INDISTINCT = 0.85


class PaperRow(NamedTuple):
  """One method of the paper's Table I, in percent, as printed."""

  method: str
  accuracy: float
  precision: float
  recall: float
  f1_reported: float


PAPER_TABLE_I = (
    PaperRow("GDA", 93.78, 92.89, 91.23, 96.77),
    PaperRow("ATR-GAN", 98.11, 93.78, 94.99, 97.89),
    PaperRow("ConvLSTM", 96.89, 91.67, 93.89, 93.89),
    PaperRow("GAN-CBAM", 99.12, 97.32, 98.11, 98.45),
)


def f1_from_precision_recall(precision: float, recall: float) -> float:
  """The harmonic mean of precision and recall (in any common unit); 0 when both are 0."""
  return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def smallest_test_set(accuracy_percent: float, decimals: int = 2) -> int:
  """The fewest test images n for which some count correct/n rounds to `accuracy_percent`."""
  half_step = 0.5 * 10 ** -decimals
  n = 1
  while math.ceil((accuracy_percent - half_step) * n / 100) > (accuracy_percent + half_step) * n / 100:
    n += 1
  return n


def _is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def percent(value) -> str:
  return f"{100 * value:.1f}" if _is_number(value) else "n/a"


def _interval(bounds) -> str:
  """A 95% interval (low, high) in percent, "n/a" when there is none."""
  return f"{percent(bounds[0])} to {percent(bounds[1])}" if bounds else "n/a"


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
  return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def _is_folds(results: Mapping) -> bool:
  return "folds" in results or "std" in results


def _title(results: Mapping) -> list[str]:
  lines = [f"# Anomaly detection: {results['method']} on {results['dataset']}", ""]
  if results.get("method_description"):
    lines += [f"Method ({results['method']}): {results['method_description']}.", ""]
  return lines


def _data(results: Mapping) -> list[str]:
  lines = ["## Data", "", f"- Dataset: {results['dataset']}", f"- Label meaning: {results['label_meaning']}"]
  if results.get("inputs"):
    lines.append(f"- Files read: {results['inputs']}")
  lines.append("")
  if results.get("label_is_proxy"):
    lines += ["**These labels are a proxy, not a diagnosis: the results below say nothing about detecting "
              "disease.**", ""]
  splits = results.get("splits") or {}
  if splits:
    classes = list(dict.fromkeys(name for split in splits.values() for name in split.get("classes", {})))
    rows = [[name, str(split.get("slices", "n/a")), *(str(split.get("classes", {}).get(c, 0)) for c in classes)]
            for name, split in splits.items()]
    lines += ["Real slices per split (counts):", ""] + markdown_table(["split", "slices", *classes], rows) + [""]
  if _is_number(results.get("prevalence")):
    n_test = f" of {results['n_test']} test slices" if "n_test" in results else ""
    lines += [f"Test prevalence: {percent(results['prevalence'])} % anomalous{n_test}.", ""]
  if "added_training_images" in results:
    lines += _added_images(results["added_training_images"])
  return lines


def _added_images(added: Mapping) -> list[str]:
  """What was added to the training split: generated slices, or real minority slices drawn again."""
  def listed(source: str) -> str:
    return ", ".join(f"{counts[source]} {name}" for name, counts in added.items() if counts.get(source))

  lines = []
  if listed("synthetic"):
    lines += [f"Synthetic (generated) images: {listed('synthetic')}, added to the training split only; validation "
              "and test hold real slices only, never synthetic ones.", ""]
  if listed("repeated_real"):
    lines += [f"Oversampling: {listed('repeated_real')} real training slices drawn again, in the training split "
              "only.", ""]
  return lines or ["No synthetic or repeated images are used by this method; every split holds its real slices "
                   "once.", ""]


def _protocol(results: Mapping) -> list[str]:
  lines = ["## Protocol", ""]
  if "evaluation" in results:
    lines.append(f"- Evaluation: {results['evaluation']}.")
  rule = results.get("threshold_rule", "a rule not recorded")
  value = f" {results['threshold']:.4g}" if _is_number(results.get("threshold")) else ""
  split = "each fold's {} split" if _is_folds(results) else "the {} split"
  lines.append(f"- Decision threshold{value} ({rule}), chosen on {split.format('validation')} only; "
               f"{split.format('test')} is scored once, at that threshold.")
  checkpoint = results.get("selected_checkpoint")
  if checkpoint:
    lines.append(f"- Checkpoint: stage {checkpoint.get('stage', 'n/a')}, step {checkpoint.get('step', 'n/a')}, "
                 f"selected by {checkpoint.get('criterion', 'a criterion not recorded')}.")
  if _is_folds(results):
    k = len(results["folds"]) if "folds" in results else "K"
    lines.append(f"- Uncertainty: the test values are the mean ± standard deviation over {k} folds.")
  elif "confidence_intervals" in results:
    lines.append("- Uncertainty: 95% confidence intervals from a patient-grouped bootstrap of the test split "
                 "(slices of one patient are resampled together).")
  return lines + [""]


def _results(results: Mapping) -> list[str]:
  names = [name for name in METRIC_NAMES if name in results]
  if not names:
    return []
  folds = _is_folds(results)
  intervals, std = results.get("confidence_intervals") or {}, results.get("std") or {}
  validation = results.get("validation")
  header = ["metric", "test (%, 1 decimal)"]
  if folds:
    header.append("± std over folds")
  elif intervals:
    header.append("95% CI")
  if validation is not None:
    header.append("validation")
  rows = []
  for name in names:
    row = [METRIC_NAMES[name], percent(results[name])]
    if folds:
      row.append(f"± {percent(std[name])}" if name in std else "n/a")
    elif intervals:
      row.append(_interval(intervals.get(name)))
    if validation is not None:
      row.append(percent(validation.get(name)))
    rows.append(row)
  lines = ["## Results", ""] + markdown_table(header, rows) + [""]
  matrix = results.get("confusion_matrix")
  if matrix:
    lines += ["Confusion matrix on the test slices (counts):", ""]
    lines += markdown_table(["", "predicted normal", "predicted anomalous"],
                    [["actually normal", str(matrix.get("tn", "n/a")), str(matrix.get("fp", "n/a"))],
                     ["actually anomalous", str(matrix.get("fn", "n/a")), str(matrix.get("tp", "n/a"))]]) + [""]
  return lines


def _peers(results: Mapping) -> list[str]:
  """This run's test metrics beside those of its peers (eval.peers) on the same split, each with its spread."""
  peers = results.get("peers")
  if not peers:
    return []
  folds = _is_folds(results)
  names = [name for name in METRIC_NAMES if name in next(iter(peers.values()))]

  def cell(entry: Mapping, name: str) -> str:
    if folds:
      return f"{percent(entry.get(name))} ± {percent((entry.get('std') or {}).get(name))}"
    bounds = (entry.get("confidence_intervals") or {}).get(name)
    return f"{percent(entry.get(name))} ({_interval(bounds)})" if bounds else percent(entry.get(name))

  entries = {f"{results['method']} (this run)": results,
             **{f"{name}: {entry['label']}": entry for name, entry in peers.items()}}
  rows = [[label, *(cell(entry, name) for name in names)] for label, entry in entries.items()]
  spread = "mean ± std over folds" if folds else "95% CI"
  return (["## Peers on the same split", "",
           "Each peer is trained on this run's training split (reusing its autoencoder and BAGAN where it "
           "builds on them) and thresholded on its validation split; test metrics in percent "
           f"({spread}).", ""]
          + markdown_table(["method", *(METRIC_NAMES[name] for name in names)], rows) + [""])


def _detection_time(results: Mapping) -> list[str]:
  parts = []
  for batch in (1, 64):
    p50, p95 = results.get(f"detection_ms_p50_batch{batch}"), results.get(f"detection_ms_p95_batch{batch}")
    if _is_number(p50):
      tail = f", p95 {p95:.3g} ms" if _is_number(p95) else ""
      parts.append(f"{p50:.3g} ms per image at batch {batch} (p50{tail})")
  if _is_number(results.get("images_per_s_batch64")):
    parts.append(f"{results['images_per_s_batch64']:.0f} images/s at batch 64")
  if not parts:
    return []
  device = results.get("device", "a device not recorded")
  return ["## Detection time", "", f"On {device}: " + "; ".join(parts) + ".", ""]


def _generated_reading(stats: Mapping) -> str:
  findings = []
  if _is_number(stats.get("diversity")) and _is_number(stats.get("real_diversity")) and stats["real_diversity"] > 0:
    ratio = stats["diversity"] / stats["real_diversity"]
    if ratio < MODE_COLLAPSE_RATIO:
      findings.append(f"diversity is {ratio:.2f} of the real images' (< {MODE_COLLAPSE_RATIO}): possible mode collapse")
  if _is_number(stats.get("nearest_real_min")) and _is_number(stats.get("real_nearest_real")) \
      and stats["real_nearest_real"] > 0:
    ratio = stats["nearest_real_min"] / stats["real_nearest_real"]
    if ratio < MEMORISATION_RATIO:
      findings.append(f"the closest generated image lies {ratio:.2f} of the real-to-real nearest distance from a "
                      f"real slice (< {MEMORISATION_RATIO}): possible memorisation")
  return "; ".join(findings) if findings else "neither mode collapse nor memorisation is indicated"


def _synthetic_filter(results: Mapping) -> list[str]:
  account = results.get("synthetic_filter")
  if not account:
    return []
  low, high = account["nearest_real_band"]
  return [f"Filter (ATR-GAN): kept {account['kept']} of {account['candidates']} generated candidates "
          f"({account['needed']} needed to balance the classes): those whose nearest real anomaly lies {low:.3g} to "
          f"{high:.3g} away in the encoder's latent space, the {account['percentiles'][0]:g}th to "
          f"{account['percentiles'][1]:g}th percentiles of the real anomalies' own nearest-neighbour distances.", ""]


def _generated(results: Mapping) -> list[str]:
  generated, kept = results.get("generated") or {}, _synthetic_filter(results)
  if not generated and not kept:
    return []
  lines = ["## Generated images", ""] + kept
  if generated:
    columns = ("diversity", "real_diversity", "nearest_real", "nearest_real_min", "real_nearest_real")
    rows = [[name, *(f"{stats[c]:.3f}" if _is_number(stats.get(c)) else "n/a" for c in columns)]
            for name, stats in generated.items()]
    lines += ["Diversity of the generated and of the real images of a class; distance of generated images to their "
              "nearest real slice (mean, min) and of real slices to their nearest other real slice.", ""]
    lines += markdown_table(["class", *columns], rows) + [""]
    lines += [f"- {name}: {_generated_reading(stats)}." for name, stats in generated.items()] + [""]
  return lines


def _with_spread(results: Mapping, key: str) -> str:
  spread = (results.get("std") or {}).get(key)
  return f"{results[key]:.2f}" + (f" ± {spread:.2f} over folds" if _is_number(spread) else "")


def _c2st_reading(auc: float) -> str:
  if auc <= C2ST_INDISTINCT:
    return f"at or below {C2ST_INDISTINCT}: the classifier finds the generated slices hard to tell from real ones"
  return (f"above {C2ST_INDISTINCT}: a classifier tells the generated slices from real ones, so they do not pass for "
          "real slices")


def _per_class_c2st(per_class: Mapping) -> str:
  """The two-sample test of each class's slices alone, with how many it compared; empty for one class.

  The pooled figure is mostly that of the class with most slices, which at u > 0 is not the class
  whose generated slices enter training.
  """
  if len(per_class) < 2:
    return ""
  parts = [f"{name} {entry['c2st_roc_auc']:.2f} ({entry['real']} real, {entry['synthetic']} generated)"
           if _is_number(entry.get("c2st_roc_auc")) else f"{name} none ({entry['real']} real slices are too few)"
           for name, entry in per_class.items()]
  return " Per class: " + "; ".join(parts) + "."


def _training_checks(results: Mapping) -> list[str]:
  """The autoencoder's generalisation and the generated slices' two-sample test, where the method has them."""
  lines = []
  check = results.get("autoencoder")
  # Runs written before the linear peer was reported have none.
  linear = ("; PCA with as many axes as its latent, fitted on the same slices: "
            f"{_with_spread(results, 'pca_val_mse_ratio')}" if _is_number(results.get("pca_val_mse_ratio")) else "")
  if check:
    lines.append(f"- Autoencoder: validation MSE {check['val_loss']:.4g} against {check['mean_image_val_loss']:.4g} "
                 f"for predicting the mean training slice, a ratio of {check['val_mse_ratio']:.2f} (1.0: it "
                 f"reconstructs unseen slices no better than the average slice){linear}.")
  elif _is_number(results.get("autoencoder_val_mse_ratio")):
    lines.append(f"- Autoencoder: validation MSE over that of the mean training slice "
                 f"{_with_spread(results, 'autoencoder_val_mse_ratio')} (1.0: no better than the average slice)"
                 f"{linear}.")
  quality = (results.get("generated_quality") or {}).get("all_classes") or {}
  if _is_number(quality.get("c2st_roc_auc")):
    floor = quality.get("frechet_distance_real_halves")
    floor_text = f"; two halves of the real slices: {floor:.3g}" if _is_number(floor) else ""
    # Runs written before the quality was averaged over draws hold one draw and no spread.
    draws = (f" (sd {quality['c2st_roc_auc_sd']:.2f} over {quality['draws']} draws of generated slices)"
             if _is_number(quality.get("c2st_roc_auc_sd")) else "")
    lines.append(f"- Generated slices, classifier two-sample test against {quality['real']} real training slices "
                 f"({quality['synthetic']} generated, {results['generated_quality']['feature_space']}): held-out "
                 f"ROC-AUC {quality['c2st_roc_auc']:.2f}{draws}, {_c2st_reading(quality['c2st_roc_auc'])}. Fréchet "
                 f"distance in the same features {quality['frechet_distance']:.3g}{floor_text}."
                 f"{_per_class_c2st(results['generated_quality'].get('per_class') or {})}")
  elif _is_number(results.get("c2st_roc_auc")):
    lines.append(f"- Generated slices, classifier two-sample test ROC-AUC {_with_spread(results, 'c2st_roc_auc')} "
                 f"({_c2st_reading(results['c2st_roc_auc'])}).")
  return ["## Training checks", ""] + lines + [""] if lines else []


def _figures(figures: Mapping[str, str] | None) -> list[str]:
  if not figures:
    return []
  lines = ["## Figures", ""]
  for name, path in figures.items():
    lines += [f"![{name}]({path})", ""]
  return lines


def paper_table_i(rows_beside: list[list[str]], compared: str) -> list[str]:
  """The section showing the paper's Table I as reported, its inconsistencies, and `rows_beside` under it.

  `rows_beside` are [method, acc, prec, rec, F1, F1 from P and R] in percent; `compared` says what
  they are, for the sentence that they are not comparable.
  """
  rows = [[row.method, *(f"{v:.2f}" for v in (row.accuracy, row.precision, row.recall, row.f1_reported,
                                                f1_from_precision_recall(row.precision, row.recall)))]
          for row in PAPER_TABLE_I]
  paper = PAPER_TABLE_I[-1]
  reading = ("Every reported F1 lies outside the open interval between P and R (ConvLSTM's equals its recall), "
             "which is impossible for a harmonic mean of unequal P and R, and "
             f"{paper.accuracy:.2f} % accuracy needs at least {smallest_test_set(paper.accuracy)} test images while "
             f"the paper's dataset has {PAPER_DATASET_SLICES} slices. So the table is shown for reference, never as "
             f"a target; {compared} not comparable to it (different data and protocol).")
  return (["## The paper's Table I (reported; internally inconsistent)", "",
           "Values in percent: the paper's as printed (2 decimals), measured ones to 1 decimal. \"F1 from P, R\" is the "
           "harmonic mean of the precision and recall in the same row, computed here.", ""]
          + markdown_table(["method", "acc", "prec", "rec", "F1 reported", "F1 from P, R"], rows + rows_beside)
          + ["", reading, ""])


def percent_row(label: str, metrics: Mapping) -> list[str]:
  """[label, acc, prec, rec, F1, F1 from P and R] in percent, for rows beside the paper's Table I."""
  precision, recall = metrics.get("precision"), metrics.get("recall")
  from_pr = f1_from_precision_recall(precision, recall) if _is_number(precision) and _is_number(recall) else None
  return [label, percent(metrics.get("accuracy")), percent(precision), percent(recall), percent(metrics.get("f1")),
          percent(from_pr)]


def _paper_table(results: Mapping) -> list[str]:
  measured = any(name in results for name in ("accuracy", "precision", "recall", "f1"))
  beside = [percent_row(f"this run ({results['method']}; not comparable)", results)] if measured else []
  return paper_table_i(beside, "this run's numbers are")


def write_report(results: Mapping, path: str | os.PathLike, figures: Mapping[str, str] | None = None) -> str:
  """Writes the Markdown report of `results` (the content of results.json) to `path` and returns its text.

  Args:
    results: results.json; needs method, dataset and label_meaning, other keys are optional.
    path: output .md file.
    figures: figure name -> path relative to the report, embedded as images.
  """
  missing = [key for key in REQUIRED_KEYS if key not in results]
  if missing:
    raise ValueError(f"results lacks {missing}: the report must say what was detected, on which data")
  lines = (_title(results) + _data(results) + _protocol(results) + _results(results) + _peers(results)
           + _detection_time(results) + _training_checks(results) + _generated(results) + _figures(figures)
           + _paper_table(results))
  text = "\n".join(lines).rstrip("\n") + "\n"
  pathlib.Path(path).write_text(text)
  return text
