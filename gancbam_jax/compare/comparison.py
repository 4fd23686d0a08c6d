"""`python launch/compare.py`: every chosen method on the same splits and seeds, in one table and two figures.

  comparison = compare(config, workdir)

config is an experiment config (configs/compare.py) whose `compare` section names the methods
and seeds. Each method runs once per seed in `<workdir>/<method>/seed<s>/` (a K-fold
cross-validation when eval.folds = K), resuming if interrupted. Writes into workdir:
comparison.json (per method: mean and std over every fold and seed of accuracy, precision,
recall, F1, ROC-AUC and PR-AUC; detection ms per image; wall time; the paper's Table I row),
comparison.md (the table, and the paper's Table I beside it as reported),
plots/comparison_metrics.png (Fig. 7 for every method) and plots/comparison_roc.png.
"""

from __future__ import annotations

import json
import pathlib

import ml_collections
import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from gancbam_jax.methods import METHODS, Method, distinct_values, experiment_config, parse_names
from gancbam_jax.compare.runs import (
    autoencoder_fields,
    has_autoencoder,
    per_split_results,
    pooled_test_scores,
    run_once,
    share_autoencoder,
    wall_seconds,
)
from gancbam_jax.detect import figures
from gancbam_jax.detect.metrics import numeric_in_every_fold, summarize_folds
from gancbam_jax.detect.report import PAPER_TABLE_I, markdown_table, paper_table_i, percent, percent_row
from gancbam_jax.experiment import QUALITY_KEYS
from gancbam_jax.train.settings import ConfigError

COMPARED_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc")
TIMING_KEYS = ("detection_ms_p50_batch1", "detection_ms_p50_batch64")


def split_config(config: ml_collections.ConfigDict, section: str) -> tuple[ml_collections.ConfigDict,
                                                                         ml_collections.ConfigDict]:
  """(the experiment config without `section`, the section): runs must not carry the launcher's own fields."""
  if section not in config:
    raise ConfigError(f"config has no {section!r} section; start from configs/{section}.py")
  experiment = ml_collections.ConfigDict(config.to_dict())
  del experiment[section]
  return experiment, config[section]


def protocol(folds: int, seeds: list[int]) -> str:
  """How every method is evaluated, in words."""
  splits = f"{folds}-fold patient-grouped cross-validation" if folds > 1 else "one patient-grouped split"
  return f"{splits} x seeds {seeds}; every method on the same splits and seeds"


def run_method(base: ml_collections.ConfigDict, method: Method, seeds: list[int], workdir: pathlib.Path,
               autoencoders: dict[str, pathlib.Path] | None = None) -> dict:
  """Runs (or reads) a method at every seed; returns its row: mean and std over every fold and seed.

  `autoencoders` maps `autoencoder_fields` to a run directory already holding that autoencoder: a
  method whose autoencoder is the same function of the same data starts from a copy of it instead
  of training it again (bit-identical either way). The method's runs are added to it.
  """
  autoencoders = {} if autoencoders is None else autoencoders
  directories = [workdir / method.name / f"seed{seed}" for seed in seeds]
  results = []
  for seed, directory in zip(seeds, directories):
    config = experiment_config(base, method, seed)
    fields = autoencoder_fields(config)
    if fields in autoencoders and share_autoencoder(autoencoders[fields], directory):
      print(f"  {method.name} seed {seed}: autoencoder copied from {autoencoders[fields].relative_to(workdir)}",
            flush=True)
    results.append(run_once(config, directory))
    if has_autoencoder(directory):
      autoencoders.setdefault(fields, directory)
  splits = [split for r in results for split in per_split_results(r)]
  summary = summarize_folds(splits, keys=[*COMPARED_METRICS, *TIMING_KEYS, *numeric_in_every_fold(splits, QUALITY_KEYS)])
  wall = np.array([wall_seconds(d) for d in directories])
  paper = {row.method: row._asdict() for row in PAPER_TABLE_I}.get(method.paper_row)
  return {"method": method.name, "label": method.label, "kind": method.kind, "fields": method.overrides,
          "detector": results[0]["method"], "description": results[0]["method_description"],
          "threshold_rule": results[0]["threshold_rule"], "runs": len(splits), "mean": summary["mean"],
          "std": summary["std"], "wall_s_per_seed": float(wall.mean()),
          "run_directories": [str(d.relative_to(workdir)) for d in directories], "paper_table_i": paper,
          "device": results[0]["device"], "dataset": results[0]["dataset"], "evaluation": results[0]["evaluation"]}


def _cell(row: dict, key: str) -> str:
  return f"{percent(row['mean'][key])} ± {percent(row['std'][key])}"


def _ratio_cell(row: dict, key: str) -> str:
  """A check that is a number in [0, 1] or a ratio, to 2 decimals with its spread; '-' where the method has none."""
  if key not in row["mean"]:
    return "-"
  return f"{row['mean'][key]:.2f} ± {row['std'][key]:.2f}"


def comparison_markdown(comparison: dict) -> str:
  """comparison.md: the protocol, one row per method (percent, mean ± std), then the paper's Table I."""
  rows = comparison["methods"]
  table = [[row["label"], row["kind"], *(_cell(row, key) for key in COMPARED_METRICS),
            *(_ratio_cell(row, key) for key in QUALITY_KEYS),
            f"{row['mean']['detection_ms_p50_batch1']:.2f}", f"{row['mean']['detection_ms_p50_batch64']:.3f}",
            f"{row['wall_s_per_seed']:.0f}"] for row in rows]
  beside = [percent_row(f"{row['label']} (here; not comparable)", row["mean"]) for row in rows if row["paper_table_i"]]
  thresholds = sorted({row["threshold_rule"] for row in rows})
  lines = ["# Comparison of methods", "",
           f"- Data: {rows[0]['dataset']}.",
           f"- Protocol: {comparison['protocol']}.",
           f"- Thresholds, chosen on validation only: {'; '.join(thresholds)}.",
           f"- Timing ({rows[0]['device']}): median ms per image after compilation; wall time is training plus "
           "evaluation per seed (all folds), on whatever else the machine was running.", "",
           "Test metrics in percent, mean ± standard deviation over every fold and seed:", ""]
  lines += markdown_table(["method", "kind", "accuracy", "precision", "recall", "F1", "ROC-AUC", "PR-AUC",
                           "AE val/mean MSE", "PCA val/mean MSE", "C2ST ROC-AUC", "ms/img b1", "ms/img b64", "wall s"],
                          table)
  lines += ["", "AE val/mean MSE: the autoencoder's validation MSE over that of predicting the mean training slice "
                "(below 1: it reconstructs more than the average slice). PCA val/mean MSE: the same for PCA with as "
                "many axes as the autoencoder's latent, fitted on the same (augmented) training slices: its linear "
                "peer. C2ST ROC-AUC: a classifier two-sample test of generated against real training slices in a "
                "fixed random-network feature space (0.5: indistinguishable; 1.0: every generated slice is "
                "recognised). '-': the method has no such stage."]
  lines += ["", "What each method is:", ""] + [f"- **{row['label']}** ({row['method']}): {row['description']}."
                                              for row in rows]
  lines += ["", "Figures: `plots/comparison_metrics.png` (test metrics, Fig. 7) and `plots/comparison_roc.png` "
                f"(test ROC of every method, {comparison['roc_runs']}).", ""]
  lines += paper_table_i(beside, "the rows measured here are")
  return "\n".join(lines) + "\n"


def _plot(comparison: dict, workdir: pathlib.Path) -> None:
  plots = workdir / "plots"
  plots.mkdir(parents=True, exist_ok=True)
  rows = comparison["methods"]
  figures.plot_metric_comparison({row["label"]: row["mean"] for row in rows},
                                 {row["label"]: row["std"] for row in rows}, plots / "comparison_metrics.png",
                                 title="test metrics, mean and std over folds/seeds")
  curves = {}
  for row in rows:
    scores, labels = pooled_test_scores(workdir / row["run_directories"][0])
    fpr, tpr, _ = roc_curve(labels, scores)
    curves[row["label"]] = (fpr, tpr, roc_auc_score(labels, scores))
  figures.plot_roc(curves, plots / "comparison_roc.png")


def compare(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> dict:
  """Runs every method of config.compare.methods at every seed; writes and returns the comparison."""
  base, settings = split_config(config, "compare")
  names = parse_names(settings.methods, "compare.methods")
  seeds = distinct_values(settings.seeds, "compare.seeds", int)
  workdir = pathlib.Path(workdir).expanduser().resolve()
  workdir.mkdir(parents=True, exist_ok=True)
  (workdir / "compare_config.json").write_text(config.to_json(indent=2) + "\n")
  rows, autoencoders = [], {}
  for name in names:
    print(f"comparison: {name} ({METHODS[name].label}), seeds {seeds}", flush=True)
    rows.append(run_method(base, METHODS[name], seeds, workdir, autoencoders))
    print(f"  {name}: F1 {_cell(rows[-1], 'f1')}, ROC-AUC {_cell(rows[-1], 'roc_auc')} (percent)", flush=True)
  comparison = {
      "protocol": protocol(base.eval.folds, seeds),
      "roc_runs": "test slices pooled over the folds of the first seed",
      "methods": rows,
      "paper_table_i": [row._asdict() for row in PAPER_TABLE_I],
  }
  (workdir / "comparison.json").write_text(json.dumps(comparison, indent=2) + "\n")
  (workdir / "comparison.md").write_text(comparison_markdown(comparison))
  _plot(comparison, workdir)
  return comparison
