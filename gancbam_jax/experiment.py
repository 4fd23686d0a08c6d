"""A whole experiment: split, train, build the configured detector, evaluate; on one split or over K folds.

  results = run_experiment(config, workdir)   # what launch/train.py runs; resumable
  results = evaluate_workdir(workdir)         # launch/evaluate.py: from checkpoints, never trains

The layer above `train` (prepare_run: data, split, stages) and `detect` (build_detector, evaluate):
neither of them calls back into this module, and `compare`, `export` and `launch/` build on it.

With eval.folds = K > 1 every fold is a complete run (its own split, training, detector and
threshold) in workdir/folds/fold<k>/, and workdir's results.json reports the mean and standard
deviation over folds. A single split reports patient-grouped bootstrap 95% intervals instead.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import ml_collections
from sklearn.metrics import roc_curve

from gancbam_jax.detect import figures
from gancbam_jax.detect.detectors import build_detector
from gancbam_jax.detect.evaluation import Evaluation, evaluate
from gancbam_jax.detect.metrics import INTERVAL_METRICS, numeric_in_every_fold, summarize_folds
from gancbam_jax.detect.report import write_report
from gancbam_jax.detect.settings import validate_detection_config
from gancbam_jax.detect.timing import TIMED_BATCH_SIZES
from gancbam_jax.methods import METHODS, peer_config, peer_names
from gancbam_jax.train import parallel
from gancbam_jax.train.pipeline import Run, check_resumable, prepare_run

# Equal in every fold; each fold's threshold and selected checkpoint are in its own entry of "folds".
SHARED_KEYS = ("method", "method_description", "dataset", "label_meaning", "label_is_proxy", "inputs", "device",
               "heatmap", "threshold_rule")
TIMING_KEYS = tuple(f"{kind}_batch{b}" for b in TIMED_BATCH_SIZES
                    for kind in ("detection_ms_p50", "detection_ms_p95", "images_per_s"))
# Checks of the training stages, where the method has them: the autoencoder's validation MSE over the
# mean slice's, the same ratio for PCA with as many axes (its linear peer), and the two-sample test of
# generated against real training slices.
QUALITY_KEYS = ("autoencoder_val_mse_ratio", "pca_val_mse_ratio", "c2st_roc_auc")
# What results.json keeps of each peer (eval.peers), with their intervals or spread.
PEER_METRICS = ("roc_auc", "f1", "pr_auc")


def peer_results(run: Run, fold: tuple[int, int] | None) -> dict:
  """Each method of eval.peers trained (or restored) and evaluated on the run's own split, beside it.

  A peer's config is the run's with the method's fields (methods.peer_config): it reuses the run's
  autoencoder and BAGAN, and only its detector is new. Returns name -> its label, description and
  test metrics (with their intervals on a single split).
  """
  peers = {}
  for name in peer_names(run.config.eval.peers):
    peer = dataclasses.replace(run, config=peer_config(run.config, name))
    # Only its test metrics are kept: its detection time would be measured for nothing.
    results = evaluate(peer, build_detector(peer), fold, write=False, timed=False).results
    intervals = results.get("confidence_intervals") or {}
    peers[name] = {"label": METHODS[name].label, "method_description": results["method_description"],
                   **{key: results[key] for key in PEER_METRICS},
                   **({"confidence_intervals": {key: intervals[key] for key in PEER_METRICS}} if intervals else {})}
  return peers


def _train_and_evaluate(config: ml_collections.ConfigDict, workdir: pathlib.Path, fold: tuple[int, int] | None,
                        restore_only: bool) -> Evaluation:
  run = prepare_run(config, workdir, fold, restore_only)
  try:
    detector = build_detector(run)  # the run's own stages first: the peers restore and build on them
    return evaluate(run, detector, fold, write=parallel.is_chief(), peers=peer_results(run, fold))
  finally:
    run.log.close()


def _peers_over_folds(per_fold: list[dict]) -> dict:
  """Each peer's mean and std over the folds of its test metrics."""
  peers = {}
  for name, first in per_fold[0].get("peers", {}).items():
    summary = summarize_folds([results["peers"][name] for results in per_fold], keys=PEER_METRICS)
    peers[name] = {"label": first["label"], "method_description": first["method_description"], **summary["mean"],
                   "std": summary["std"]}
  return peers


def _summed_splits(per_fold: list[dict]) -> dict:
  """Slices and class counts per split, summed over folds (each slice is tested in exactly one fold)."""
  total = {}
  for results in per_fold:
    for name, split in results["splits"].items():
      entry = total.setdefault(name, {"slices": 0, "classes": {}})
      entry["slices"] += split["slices"]
      for c, n in split["classes"].items():
        entry["classes"][c] = entry["classes"].get(c, 0) + n
  return total


def aggregate_folds(per_fold: list[dict]) -> dict:
  """results.json of a cross-validation: fold means as the metrics, their std, pooled counts, every fold."""
  metric_keys = [*INTERVAL_METRICS, "threshold", *TIMING_KEYS, *numeric_in_every_fold(per_fold, QUALITY_KEYS)]
  summary = summarize_folds(per_fold, keys=metric_keys)
  confusion = summary["confusion_matrix"]
  n_test = sum(confusion.values())
  validation = summarize_folds([r["validation"] for r in per_fold], keys=INTERVAL_METRICS)
  return {**{key: per_fold[0][key] for key in SHARED_KEYS}, **summary["mean"],
          "evaluation": f"{len(per_fold)}-fold patient-grouped cross-validation (metrics and threshold: mean over "
                        "folds, each fold thresholded on its own validation split)",
          "std": summary["std"], "n_test": n_test, "prevalence": (confusion["tp"] + confusion["fn"]) / n_test,
          "confusion_matrix": confusion, "splits": _summed_splits(per_fold),
          "added_training_images": per_fold[0]["added_training_images"],
          "validation": validation["mean"], "peers": _peers_over_folds(per_fold), "folds": per_fold}


def cross_validate(config: ml_collections.ConfigDict, workdir: pathlib.Path, restore_only: bool = False) -> dict:
  """Every fold trained (or restored) and evaluated; writes the pooled results, figures and report."""
  n_folds = config.eval.folds
  evaluations = [_train_and_evaluate(config, workdir / "folds" / f"fold{k}", (k, n_folds), restore_only)
                 for k in range(n_folds)]
  results = aggregate_folds([e.results for e in evaluations])
  if parallel.is_chief():
    plots = workdir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    curves = {}
    for k, e in enumerate(evaluations):
      fpr, tpr, _ = roc_curve(e.test_labels, e.test_scores)
      curves[f"fold {k + 1}"] = (fpr, tpr, e.results["roc_auc"])
    figures.plot_roc(curves, plots / "roc.png")
    figures.plot_metric_bars(results, plots / "metrics.png", errors=results["std"],
                             title=f"{results['method']}: mean test metrics over {n_folds} folds (error: std)")
    (workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_report(results, workdir / "report.md", {
        "ROC of each fold (Fig. 5)": "plots/roc.png", "test metrics, mean and std over folds (Fig. 7)": "plots/metrics.png",
        **{f"fold {k + 1}: report": f"folds/fold{k}/report.md" for k in range(n_folds)}})
  return results


def run_experiment(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> dict:
  """Trains (or resumes) and evaluates the configured detector in `workdir`; returns results.json's content."""
  validate_detection_config(config)
  workdir = pathlib.Path(workdir).expanduser().resolve()
  if config.eval.folds > 1:
    check_resumable(workdir, config)
    if parallel.is_chief():
      workdir.mkdir(parents=True, exist_ok=True)
      (workdir / "config.json").write_text(config.to_json(indent=2) + "\n")
    return cross_validate(config, workdir)
  return _train_and_evaluate(config, workdir, None, restore_only=False).results


def headline(results: dict) -> str:
  """One line of the test metrics, with the spread over folds when there is one."""
  spread = results.get("std", {})
  shown = ", ".join(f"{name} {results[name]:.3f}" + (f" ± {spread[name]:.3f}" if name in spread else "")
                    for name in ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc"))
  return f"{results['method']} on the test split ({results['evaluation']}): {shown}"


# Fields added after runs were first written, with the value that does what an older run did: its
# config.json lacks them, and evaluating or exporting it must neither fail nor train anything new.
ADDED_FIELDS = {("eval", "peers"): "", ("detect", "synthetic_share"): 1.0, ("train", "generator_layers"): "all",
                ("train", "ae_batch_size"): 0, ("augment", "autoencoder_affine_scale"): 1.0,
                ("train", "gan_anchor_weight"): 0.0, ("detect", "classifier_init"): "encoder",
                ("train", "floor_margin"): 0.0, ("augment", "mixup_alpha"): 0.0,
                ("augment", "mixup_partners"): "any"}


def read_run_config(workdir: pathlib.Path) -> ml_collections.ConfigDict:
  """The checked config.json of a run directory written by launch/train.py (older ones: see ADDED_FIELDS)."""
  path = workdir / "config.json"
  if not path.is_file():
    raise FileNotFoundError(f"{path} does not exist: {workdir} is not a run directory of launch/train.py")
  saved = json.loads(path.read_text())
  for (section, field), value in ADDED_FIELDS.items():
    saved.get(section, {}).setdefault(field, value)
  config = ml_collections.ConfigDict(saved)
  validate_detection_config(config)
  return config


def saved_fold(workdir: pathlib.Path) -> tuple[int, int] | None:
  """(k, K) when the run directory is fold k of a K-fold cross-validation (folds/fold<k>), else None."""
  path = workdir / "split.json"
  if not path.is_file():
    return None
  split = json.loads(path.read_text())
  return (split["fold"], split["folds"]) if "fold" in split else None


def evaluate_workdir(workdir: str | pathlib.Path, distributed: bool = False) -> dict:
  """Recomputes results.json, figures and report.md of a finished run from its checkpoints, without training.

  `workdir` is a single-split run, a cross-validation (every fold and the pooled results), or one
  fold's directory of a cross-validation. The evaluation is one process on this machine's devices
  unless `distributed`, whatever the training was: checkpoints of a multi-process run restore in one.
  """
  workdir = pathlib.Path(workdir).expanduser().resolve()
  config = read_run_config(workdir)
  config.distributed = distributed
  fold = saved_fold(workdir)
  if config.eval.folds > 1 and fold is None:
    return cross_validate(config, workdir, restore_only=True)
  return _train_and_evaluate(config, workdir, fold, restore_only=True).results
