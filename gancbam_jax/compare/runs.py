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
import shutil
import time

import ml_collections
import numpy as np

from gancbam_jax.experiment import run_experiment
from gancbam_jax.train.metrics_log import METRICS_FILE

WALL_TIME_FILE = "wall_time.json"
SHARED_STAGE = "autoencoder"
# What the pretrained autoencoder does not depend on: the detector, and the augmentation of later stages.
NOT_AUTOENCODER_FIELDS = {"detect": None, "eval": None, "augment": ("classifier", "diffaugment")}


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


def autoencoder_fields(config: ml_collections.ConfigDict) -> str:
  """The config fields the pretrained autoencoder is a function of, as canonical JSON: two runs with equal
  fields train bit-identical autoencoders (a stage's randomness is fold_in(seed-derived key, step))."""
  fields = config.to_dict()
  for section, names in NOT_AUTOENCODER_FIELDS.items():
    if names is None:
      fields.pop(section, None)
    else:
      fields[section] = {k: v for k, v in fields.get(section, {}).items() if k not in names}
  return json.dumps(fields, sort_keys=True, default=list)


def _run_directories(workdir: pathlib.Path) -> list[pathlib.Path]:
  """The directories holding one split's stages: the run itself, or each fold of a cross-validation."""
  return sorted(workdir.glob("folds/fold*")) or [workdir]


def has_autoencoder(workdir: pathlib.Path) -> bool:
  """Whether a run trained (or holds) the pretrained autoencoder stage."""
  return any((split_dir / "checkpoints" / SHARED_STAGE).is_dir() for split_dir in _run_directories(workdir))


def share_autoencoder(source: pathlib.Path, target: pathlib.Path) -> int:
  """Copies the finished autoencoder stage of a run into another run of equal `autoencoder_fields`.

  Per split (the run, or each fold): its checkpoints, its lines of metrics.jsonl and its
  reconstruction plot, where the target has no autoencoder checkpoints yet. The target then
  restores the stage instead of training it again. Returns the number of splits copied.
  """
  copied = 0
  for split_dir in _run_directories(source):
    checkpoints = split_dir / "checkpoints" / SHARED_STAGE
    destination = target / split_dir.relative_to(source)
    if not checkpoints.is_dir() or (destination / "checkpoints" / SHARED_STAGE).exists():
      continue
    shutil.copytree(checkpoints, destination / "checkpoints" / SHARED_STAGE)
    lines = [line for line in (split_dir / METRICS_FILE).read_text().splitlines()
             if json.loads(line)["stage"] == SHARED_STAGE]
    (destination / METRICS_FILE).write_text("".join(line + "\n" for line in lines))
    plot = split_dir / "plots" / f"{SHARED_STAGE}_reconstructions.png"
    if plot.is_file():
      (destination / "plots").mkdir(parents=True, exist_ok=True)
      shutil.copy2(plot, destination / "plots" / plot.name)
    copied += 1
  return copied


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
