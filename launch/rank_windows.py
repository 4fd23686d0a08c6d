"""Rank HU windows by how well the random-forest peer sees the label through them, by nested patient-grouped CV.

  python launch/rank_windows.py --config configs/siim_ct.py --config.data.root=DIR [--config.eval.folds=5]
      [--levels=0,50,100,150,200,300] [--widths=300,400,600,1200] [--json FILE]

Over the config's split (or each of its eval.folds), every candidate window (level +- width / 2,
and the config's first window) is ranked on the training and validation slices by an inner
patient-grouped CV of the forest; the test slices then score the forest at the chosen window and
at the configured one (gancbam_jax/detect/window_ranking.py). Prints a Markdown table per split
and the windows' mean inner ROC-AUC over splits.
"""

import json
import pathlib
import sys

import numpy as np
from absl import app, flags
from ml_collections import config_flags

from gancbam_jax import cli
from gancbam_jax.data import load_from_config
from gancbam_jax.detect.metrics import summarize_folds
from gancbam_jax.detect.window_ranking import candidate_windows, choose_window
from gancbam_jax.train.data import configured_split

_DEFAULT_CONFIG = pathlib.Path(__file__).resolve().parents[1] / "configs" / "siim_ct.py"
_CONFIG = config_flags.DEFINE_config_file("config", str(_DEFAULT_CONFIG), "Config file: its data, eval.folds, "
                                          "detect.forest_trees and seed are used.")
_LEVELS = flags.DEFINE_list("levels", ["0", "50", "100", "150", "200", "300"], "Window levels (centres), HU.")
_WIDTHS = flags.DEFINE_list("widths", ["300", "400", "600", "1200"], "Window widths, HU.")
_INNER = flags.DEFINE_integer("inner_folds", 4, "Patient-grouped inner folds over a split's non-test slices.")
_JSON = flags.DEFINE_string("json", None, "Write every split's ranking and test ROC-AUCs here as JSON.")


def _window_name(window) -> str:
  return f"({window[0]:g}, {window[1]:g})"


def main(argv):
  cli.begin(argv, "--config, --config.<field>=..., --levels, --widths, --inner_folds and --json")
  config = _CONFIG.value
  try:
    windows = candidate_windows([float(v) for v in _LEVELS.value], [float(v) for v in _WIDTHS.value])
  except ValueError as e:
    sys.exit(f"error: --levels/--widths: {e}")
  configured = tuple(float(v) for v in config.data.hu_windows[0])
  windows = list(dict.fromkeys([*windows, configured]))
  data = config.data
  data.hu_windows = tuple(windows)  # one channel per candidate: the files are decoded once
  n_folds = config.eval.folds
  try:
    dataset = load_from_config(data)
    splits = [configured_split(dataset, data.split, None if n_folds < 2 else (k, n_folds))
              for k in range(max(n_folds, 1))]
    images = dataset.images()
    anomalous = dataset.labels == dataset.anomalous_index
    choices = [choose_window(images, anomalous, dataset.patient_ids, windows, split, configured,
                             inner_folds=_INNER.value, n_trees=config.detect.forest_trees, seed=config.seed)
               for split in splits]
  except (*cli.RUN_ERRORS, ValueError) as e:
    sys.exit(f"error: {e}")

  print(f"{len(windows)} windows, {len(splits)} split(s), inner {_INNER.value}-fold patient-grouped CV of a "
        f"{config.detect.forest_trees}-tree forest on each split's training + validation slices\n")
  print("| split | chosen window | its inner ROC-AUC | configured window's inner ROC-AUC | test ROC-AUC, chosen | "
        "test ROC-AUC, configured |\n|---|---|---|---|---|---|")
  for k, choice in enumerate(choices):
    best, mine = choice.ranking[0], choice.score(configured)
    print(f"| {k} | {_window_name(best.window)} | {best.roc_auc:.3f} ± {best.roc_auc_sd:.3f} | {mine.roc_auc:.3f} ± "
          f"{mine.roc_auc_sd:.3f} | {choice.test_roc_auc_chosen:.3f} | {choice.test_roc_auc_configured:.3f} |")
  tests = summarize_folds([{"chosen": choice.test_roc_auc_chosen, "configured": choice.test_roc_auc_configured}
                           for choice in choices])
  mean, sd = tests["mean"], tests["std"]
  print(f"\nnested test ROC-AUC, window chosen per split: {mean['chosen']:.3f} ± {sd['chosen']:.3f}; "
        f"configured {_window_name(configured)}: {mean['configured']:.3f} ± {sd['configured']:.3f}")
  mean_inner = {window: np.mean([choice.score(window).roc_auc for choice in choices]) for window in windows}
  times_chosen = {window: sum(c.chosen == window for c in choices) for window in windows}
  print("\n| window | mean inner ROC-AUC | chosen in splits |\n|---|---|---|")
  for window in sorted(windows, key=lambda w: -mean_inner[w])[:8]:
    print(f"| {_window_name(window)} | {mean_inner[window]:.3f} | {times_chosen[window]} |")

  if _JSON.value:
    path = pathlib.Path(_JSON.value).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "configured": configured, "inner_folds": _INNER.value,
        "splits": [{"chosen": c.chosen, "test_roc_auc_chosen": c.test_roc_auc_chosen,
                    "test_roc_auc_configured": c.test_roc_auc_configured,
                    "ranking": [vars(score) for score in c.ranking]} for c in choices]}, indent=2) + "\n")
    print(f"\nwritten: {path}", file=sys.stderr)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
