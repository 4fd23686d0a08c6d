"""One method's runs in a comparison: trained and evaluated once per seed, resumed when interrupted.

Each run is an ordinary run directory of launch/train.py (`<workdir>/<method>/seed<s>/`), so its
report, figures and checkpoints stay inspectable and launch/export.py can ship it. A run whose
results.json exists for the same config is read, not repeated; an interrupted one resumes from its
checkpoints. The wall time spent on a run (training and evaluation) accumulates in
wall_time.json across resumes.
"""

from __future__ import annotations

import csv
import json
import pathlib
import time

import ml_collections
import numpy as np

from gancbam_jax.detect.experiment import run_experiment

WALL_TIME_FILE = "wall_time.json"


def _finished(workdir: pathlib.Path, config: ml_collections.ConfigDict) -> bool:
  config_path, results_path = workdir / "config.json", workdir / "results.json"
  return (results_path.is_file() and config_path.is_file()
          and json.loads(config_path.read_text()) == json.loads(config.to_json()))


def wall_seconds(workdir: pathlib.Path) -> float:
  """Seconds spent training and evaluating the run in `workdir`, over every invocation."""
  path = workdir / WALL_TIME_FILE
  return float(json.loads(path.read_text())["seconds"]) if path.is_file() else 0.0


def run_once(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
  """results.json of the run in `workdir`: read when finished with this config, else trained (or resumed)."""
  if _finished(workdir, config):
    return json.loads((workdir / "results.json").read_text())
  began = time.perf_counter()
  try:
    return run_experiment(config, workdir)
  finally:
    spent = wall_seconds(workdir) + time.perf_counter() - began
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / WALL_TIME_FILE).write_text(json.dumps({"seconds": spent}) + "\n")


def per_split_results(results: dict) -> list[dict]:
  """The results of each tested split: every fold of a cross-validation, else the single split."""
  return results.get("folds") or [results]


def pooled_test_scores(workdir: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
  """(scores, labels) of every test slice of a run, pooled over its folds (each slice is tested once)."""
  paths = sorted(workdir.glob("folds/fold*/scores.csv")) or [workdir / "scores.csv"]
  scores, labels = [], []
  for path in paths:
    with path.open(newline="") as f:
      rows = [row for row in csv.DictReader(f) if row["split"] == "test"]
    scores += [float(row["score"]) for row in rows]
    labels += [int(row["anomalous"]) for row in rows]
  return np.asarray(scores), np.asarray(labels)
