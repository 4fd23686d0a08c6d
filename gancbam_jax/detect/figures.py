"""Evaluation figures: stage losses, classifier epoch curves, ROC and PR curves, detection time, metrics, attention,
and the comparison of methods and robustness sweeps.

Each `plot_*` function writes one PNG to `path` and returns the path as str. pyplot comes from
`gancbam_jax.plotting`, the one place that picks the headless backend. Empty or malformed input
raises ValueError naming the argument at fault.
"""

from __future__ import annotations

import math
import os
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from gancbam_jax.plotting import plt

DPI = 80
OVERLAY_ALPHA = 0.45
OVERLAY_CMAP = "jet"
MAX_OVERLAY_COLUMNS = 4
MAX_LEGEND_INSIDE = 4  # curves whose legend still fits inside a ROC plot's lower right
# The metrics a bar chart shows, in this order, with their axis labels.
METRIC_LABELS = {"accuracy": "accuracy", "precision": "precision", "recall": "recall", "f1": "F1",
                 "specificity": "specificity", "roc_auc": "ROC AUC", "pr_auc": "PR AUC"}
TIMING_KEYS = ("detection_ms_p50_batch1", "detection_ms_p95_batch1", "detection_ms_p50_batch64",
               "detection_ms_p95_batch64", "images_per_s_batch64", "device")

Curves = Mapping[str, tuple[np.ndarray, np.ndarray, float]]


def _save(fig: Figure, path: str | os.PathLike) -> str:
  fig.tight_layout()
  fig.savefig(path, dpi=DPI)
  plt.close(fig)
  return os.fspath(path)


def _is_number(value) -> bool:
  return isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isfinite(value)


def _check_records(records: Sequence[Mapping]) -> None:
  if not records:
    raise ValueError("records is empty: expected metrics.jsonl lines {'stage': ..., 'step': ..., <metric>: ...}")
  for i, record in enumerate(records):
    if not isinstance(record, Mapping) or "stage" not in record or "step" not in record:
      raise ValueError(f"records[{i}] must be a dict with 'stage' and 'step', got {record!r}")


def stage_loss_figure(records: Sequence[Mapping]) -> Figure:
  """A figure with one panel per stage (in order of first appearance): every logged '*loss*' metric against step.

  A stage that logged no loss keeps its panel, saying so, so the panels match the stages run.
  """
  _check_records(records)
  stages = list(dict.fromkeys(record["stage"] for record in records))
  if not any("loss" in key and _is_number(value) for record in records for key, value in record.items()):
    raise ValueError("records hold no metric whose name contains 'loss'")
  fig, axes = plt.subplots(len(stages), 1, figsize=(6.4, 2.6 * len(stages)), squeeze=False)
  for ax, stage in zip(axes[:, 0], stages):
    rows = [record for record in records if record["stage"] == stage]
    names = list(dict.fromkeys(key for record in rows for key in record if "loss" in key))
    for name in names:
      points = sorted((record["step"], record[name]) for record in rows if _is_number(record.get(name)))
      if points:
        steps, values = zip(*points)
        ax.plot(steps, values, marker="." if len(points) < 30 else None, label=name)
    if names:
      ax.legend(fontsize=8)
    else:
      ax.text(0.5, 0.5, "no loss metric logged", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(stage, loc="left", fontsize=10)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
  return fig


def plot_stage_losses(records: Sequence[Mapping], path: str | os.PathLike) -> str:
  """Writes the training and validation losses of every stage in metrics.jsonl, one panel per stage."""
  return _save(stage_loss_figure(records), path)


def _per_epoch(records: Sequence[Mapping], key: str) -> dict[int, float]:
  # The last record of an epoch that carries the key wins: the stage logs the epoch's value when it ends.
  return {int(record["epoch"]): float(record[key]) for record in records if _is_number(record.get(key))}


def plot_epoch_curves(records: Sequence[Mapping], metric: str, path: str | os.PathLike, title: str,
                      selected_epoch: int | None = None, stage: str = "classifier") -> str:
  """Writes training `metric` and validation `val_<metric>` of `stage` per epoch (paper Figs. 3 and 4).

  Args:
    records: metrics.jsonl lines; those of `stage` that carry 'epoch' are used.
    metric: e.g. "accuracy" or "loss".
    path: output PNG.
    title: figure title.
    selected_epoch: the epoch whose checkpoint was selected on validation, marked by a dashed line.
    stage: the stage whose epochs are plotted.
  """
  _check_records(records)
  rows = [record for record in records if record["stage"] == stage and _is_number(record.get("epoch"))]
  training, validation = _per_epoch(rows, metric), _per_epoch(rows, f"val_{metric}")
  if not training and not validation:
    raise ValueError(f"records: no {stage!r} record with 'epoch' carries {metric!r} or 'val_{metric}'")
  epochs = sorted(set(training) | set(validation))
  if selected_epoch is not None and selected_epoch not in epochs:
    raise ValueError(f"selected_epoch={selected_epoch} is not among the logged epochs {epochs}")
  fig, ax = plt.subplots(figsize=(6.4, 4.0))
  for values, label in ((training, "training"), (validation, "validation")):
    if values:
      ax.plot(sorted(values), [values[e] for e in sorted(values)], marker="o", markersize=3, label=label)
  if selected_epoch is not None:
    ax.axvline(selected_epoch, color="grey", linestyle="--", label="selected on validation")
  ax.set_xlabel("epoch")
  ax.set_ylabel(metric)
  ax.xaxis.get_major_locator().set_params(integer=True)
  ax.set_title(title)
  ax.legend()
  return _save(fig, path)


def _check_curves(curves: Curves, argument: str) -> None:
  if not curves:
    raise ValueError(f"{argument} is empty: expected name -> (x, y, area)")
  for name, curve in curves.items():
    if len(curve) != 3:
      raise ValueError(f"{argument}[{name!r}] must be (x, y, area), got {len(curve)} items")
    x, y, area = np.asarray(curve[0]), np.asarray(curve[1]), curve[2]
    if x.ndim != 1 or x.shape != y.shape or not len(x):
      raise ValueError(f"{argument}[{name!r}]: x and y must be 1-D of the same non-zero length, got shapes "
                       f"{x.shape} and {y.shape}")
    if not np.all(np.isfinite(x)) or not np.all(np.isfinite(y)) or not _is_number(area):
      raise ValueError(f"{argument}[{name!r}] holds a non-finite value")


def _check_point(point: tuple[float, float] | None, argument: str) -> None:
  if point is not None and (len(point) != 2 or not all(_is_number(v) and 0 <= v <= 1 for v in point)):
    raise ValueError(f"{argument} must be two numbers in [0, 1], got {point!r}")


def plot_roc(curves: Curves, path: str | os.PathLike, operating_point: tuple[float, float] | None = None) -> str:
  """Writes test ROC curves (name -> (fpr, tpr, auc)) with the chance diagonal.

  `operating_point` is the (fpr, tpr) at the threshold chosen on validation.
  """
  _check_curves(curves, "curves")
  _check_point(operating_point, "operating_point")
  many = len(curves) > MAX_LEGEND_INSIDE  # then the legend goes beside the axes, not over the curves
  fig, ax = plt.subplots(figsize=(9.6 if many else 4.8, 4.8))
  for name, (fpr, tpr, auc) in curves.items():
    ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
  ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
  if operating_point is not None:
    ax.plot(*operating_point, "o", color="black", label="threshold chosen on validation")
  ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate (recall)",
         title="ROC (test)", aspect="equal")
  if many:
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7)
  else:
    ax.legend(loc="lower right", fontsize=8)
  return _save(fig, path)


def plot_precision_recall(curves: Curves, path: str | os.PathLike, prevalence: float,
                          operating_point: tuple[float, float] | None = None) -> str:
  """Writes test precision-recall curves (name -> (recall, precision, average precision)).

  The horizontal line at `prevalence` (the anomalous fraction of the test set) is chance level;
  `operating_point` is the (recall, precision) at the threshold chosen on validation.
  """
  _check_curves(curves, "curves")
  _check_point(operating_point, "operating_point")
  if not _is_number(prevalence) or not 0 < prevalence < 1:
    raise ValueError(f"prevalence must be a fraction in (0, 1), got {prevalence!r}")
  fig, ax = plt.subplots(figsize=(4.8, 4.8))
  for name, (recall, precision, average_precision) in curves.items():
    # Steps, not interpolation: precision between two thresholds is not their linear mean.
    ax.plot(recall, precision, drawstyle="steps-post", label=f"{name} (AP {average_precision:.3f})")
  ax.axhline(prevalence, color="grey", linestyle=":", label=f"chance (prevalence {prevalence:.2f})")
  if operating_point is not None:
    ax.plot(*operating_point, "o", color="black", label="threshold chosen on validation")
  ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="recall", ylabel="precision", title="Precision-recall (test)",
         aspect="equal")
  ax.legend(loc="lower left", fontsize=8)
  return _save(fig, path)


def plot_detection_time(timing: Mapping, path: str | os.PathLike) -> str:
  """Writes milliseconds per image at batch 1 and batch 64: p50 bars, whiskers up to p95 (paper Fig. 6).

  `timing` holds detection_ms_{p50,p95}_batch{1,64} (per image), images_per_s_batch64 and device.
  """
  missing = [key for key in TIMING_KEYS if key not in timing]
  if missing:
    raise ValueError(f"timing lacks {missing}")
  for key in TIMING_KEYS[:-1]:
    if not _is_number(timing[key]) or timing[key] < 0:
      raise ValueError(f"timing[{key!r}] must be a non-negative number, got {timing[key]!r}")
  batches = (1, 64)
  p50 = np.array([timing[f"detection_ms_p50_batch{b}"] for b in batches], float)
  p95 = np.array([timing[f"detection_ms_p95_batch{b}"] for b in batches], float)
  fig, ax = plt.subplots(figsize=(4.8, 3.6))
  x = np.arange(len(batches))
  whiskers = np.stack([np.zeros_like(p50), np.maximum(p95 - p50, 0)])
  ax.bar(x, p50, width=0.5, yerr=whiskers, capsize=6, label="p50, whisker to p95")
  for i in x:
    ax.annotate(f"{p50[i]:.3g} ms", (i, max(p50[i], p95[i])), textcoords="offset points", xytext=(0, 4),
                ha="center", fontsize=8)
  ax.set_xticks(x, [f"batch {b}" for b in batches])
  ax.set_ylabel("ms per image")
  ax.set_ylim(0, 1.2 * max(p95.max(), p50.max()) or 1)
  ax.set_title(f"Detection time on {timing['device']}\n{timing['images_per_s_batch64']:.0f} images/s at batch 64",
               fontsize=10)
  ax.legend(fontsize=8)
  return _save(fig, path)


def plot_metric_bars(metrics: Mapping[str, float], path: str | os.PathLike,
                     intervals: Mapping[str, Sequence[float]] | None = None, errors: Mapping[str, float] | None = None,
                     title: str = "") -> str:
  """Writes bars of the detection metrics present in `metrics`, each value printed on its bar (paper Fig. 7).

  Args:
    metrics: name -> value in [0, 1]; of METRIC_LABELS, those present are shown; a NaN shows "n/a".
    path: output PNG.
    intervals: name -> 95% CI [lo, hi] (a single split), drawn as asymmetric error bars.
    errors: name -> standard deviation over folds, drawn as symmetric error bars.
    title: figure title.
  """
  if intervals is not None and errors is not None:
    raise ValueError("give intervals (a single split) or errors (folds), not both")
  names = [name for name in METRIC_LABELS if name in metrics]
  if not names:
    raise ValueError(f"metrics holds none of {list(METRIC_LABELS)}, got keys {list(metrics)}")
  values = np.array([metrics[name] if _is_number(metrics[name]) else np.nan for name in names], float)
  below, above = np.zeros(len(names)), np.zeros(len(names))
  for i, name in enumerate(names):
    if intervals is not None and name in intervals:
      bounds = np.asarray(intervals[name], float)
      if bounds.shape != (2,):
        raise ValueError(f"intervals[{name!r}] must be [lo, hi], got {intervals[name]!r}")
      # A percentile bootstrap interval may exclude the point estimate; a negative whisker cannot be drawn.
      below[i], above[i] = max(values[i] - bounds[0], 0), max(bounds[1] - values[i], 0)
    elif errors is not None and name in errors:
      if float(errors[name]) < 0:
        raise ValueError(f"errors[{name!r}] must be a standard deviation (>= 0), got {errors[name]!r}")
      below[i] = above[i] = errors[name]
  # An undefined value or bound (NaN, e.g. precision without positive predictions) gets no whisker.
  below, above = np.nan_to_num(below), np.nan_to_num(above)
  heights = np.nan_to_num(values)
  fig, ax = plt.subplots(figsize=(7.2, 3.8))
  x = np.arange(len(names))
  ax.bar(x, heights, width=0.65, yerr=np.stack([below, above]), capsize=4, color="tab:blue", ecolor="black")
  for i, value in enumerate(values):
    text = "n/a" if np.isnan(value) else f"{value:.3f}"
    inside = heights[i] >= 0.12  # Tall bars hold their value at the base, clear of the whisker.
    ax.text(i, 0.03 if inside else heights[i] + above[i] + 0.02, text, ha="center", va="bottom", fontsize=8,
            color="white" if inside else "black")
  ax.set_xticks(x, [METRIC_LABELS[name] for name in names])
  ax.set_ylim(0, 1)
  ax.set_ylabel("value")
  if title:
    ax.set_title(title)
  return _save(fig, path)


def plot_metric_comparison(means: Mapping[str, Mapping[str, float]], stds: Mapping[str, Mapping[str, float]],
                           path: str | os.PathLike, title: str = "") -> str:
  """Writes grouped bars: per metric of METRIC_LABELS, one bar per method with its std as whisker (Fig. 7).

  Args:
    means: method -> metric -> mean value in [0, 1] (NaN: no bar).
    stds: method -> metric -> standard deviation over folds or seeds.
  """
  if not means:
    raise ValueError("means is empty: expected method -> {metric: value}")
  names = [name for name in METRIC_LABELS if all(name in m for m in means.values())]
  if not names:
    raise ValueError(f"no metric of {list(METRIC_LABELS)} is given for every method")
  width = 0.8 / len(means)
  fig, ax = plt.subplots(figsize=(max(7.2, 1.1 * len(names) * max(1, len(means) / 4)), 4.2))
  for i, (method, values) in enumerate(means.items()):
    heights = np.array([values[n] if _is_number(values[n]) else np.nan for n in names], float)
    errors = np.array([stds.get(method, {}).get(n, 0.0) for n in names], float)
    ax.bar(np.arange(len(names)) + (i - (len(means) - 1) / 2) * width, np.nan_to_num(heights), width,
           yerr=np.nan_to_num(errors), capsize=2, label=method, error_kw={"elinewidth": 0.8})
  ax.set_xticks(np.arange(len(names)), [METRIC_LABELS[n] for n in names])
  ax.set(ylim=(0, 1.05), ylabel="test value (mean, whisker: std)", title=title)
  ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
  return _save(fig, path)


def plot_sweep(factor: str, values: Sequence[float], series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
               metric: str, path: str | os.PathLike) -> str:
  """Writes a metric (mean, shaded std) against a swept factor's values, one line per method."""
  if not series:
    raise ValueError("series is empty: expected method -> (means, stds) over the factor's values")
  for method, (mean, std) in series.items():
    if len(mean) != len(values) or len(std) != len(values):
      raise ValueError(f"series[{method!r}] has {len(mean)} means and {len(std)} stds for {len(values)} values")
  fig, ax = plt.subplots(figsize=(5.6, 4.0))
  x = np.asarray(values, float)
  for method, (mean, std) in series.items():
    mean, std = np.asarray(mean, float), np.asarray(std, float)
    ax.plot(x, mean, "o-", label=method)
    ax.fill_between(x, mean - std, mean + std, alpha=0.15)
  ax.set(xlabel=factor, ylabel=f"test {METRIC_LABELS.get(metric, metric)}", ylim=(0, 1.02),
         title=f"{METRIC_LABELS.get(metric, metric)} against {factor}")
  ax.legend(fontsize=7)
  return _save(fig, path)


def _check_example(i: int, example: Mapping) -> tuple[np.ndarray, np.ndarray, str]:
  missing = [key for key in ("image", "heatmap", "caption") if key not in example]
  if missing:
    raise ValueError(f"examples[{i}] lacks {missing}")
  image, heatmap = np.asarray(example["image"], float), np.asarray(example["heatmap"], float)
  if image.ndim == 3:
    image = image[..., 0]  # overlays go on the first HU window's channel
  if image.ndim != 2:
    raise ValueError(f"examples[{i}]['image'] must be (H, W) or (H, W, C), got shape {np.shape(example['image'])}")
  if heatmap.ndim != 2 or not heatmap.size:
    raise ValueError(f"examples[{i}]['heatmap'] must be a non-empty (h, w) array, got shape {heatmap.shape}")
  return image, heatmap, str(example["caption"])


def attention_overlay_figure(examples: Sequence[Mapping], title: str = "") -> Figure:
  """A grid (at most 4 columns) of CT slices in grey with their attention heatmaps overlaid.

  Each example is {"image": (H, W) or (H, W, 1) in [0, 1], "heatmap": (h, w) of any size, "caption": str};
  the heatmap is stretched bilinearly over the image and scaled to its own range, since attention
  maps have no common unit.
  """
  if not examples:
    raise ValueError("examples is empty: expected at least one {'image', 'heatmap', 'caption'}")
  checked = [_check_example(i, example) for i, example in enumerate(examples)]
  cols = min(MAX_OVERLAY_COLUMNS, len(checked))
  rows = math.ceil(len(checked) / cols)
  fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.6 * rows + (0.3 if title else 0)), squeeze=False)
  for ax in axes.ravel():
    ax.axis("off")
  for ax, (image, heatmap, caption) in zip(axes.ravel(), checked):
    height, width = image.shape
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax.imshow(heatmap, cmap=OVERLAY_CMAP, alpha=OVERLAY_ALPHA, interpolation="bilinear",
              extent=(-0.5, width - 0.5, height - 0.5, -0.5))
    ax.set_title(caption, fontsize=8)
  if title:
    fig.suptitle(title, fontsize=10)
  return fig


def plot_attention_overlays(examples: Sequence[Mapping], path: str | os.PathLike, title: str = "") -> str:
  """Writes the grid of `attention_overlay_figure`: slices with their heatmaps, each captioned."""
  return _save(attention_overlay_figure(examples, title), path)
