"""Window ranking: the informative window first, test labels never read before the choice, bad input refused."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from gancbam_jax.data import Split
from gancbam_jax.detect.window_ranking import candidate_windows, choose_window, rank_windows

REPO = pathlib.Path(__file__).resolve().parents[2]
WINDOWS = [(-200.0, 1000.0), (100.0, 500.0)]


def _two_window_slices(n_patients=16, per_patient=2, seed=0):
  """Channel 0 is noise; channel 1 shows a brighter patch on the anomalous patients' slices."""
  rng = np.random.default_rng(seed)
  n = n_patients * per_patient
  patients = np.repeat(np.arange(n_patients), per_patient)
  anomalous = np.repeat(np.arange(n_patients) % 2 == 1, per_patient)
  images = rng.normal(size=(n, 8, 8, 2)).astype(np.float32)
  images[anomalous, 2:5, 2:5, 1] += 2.0
  return images, anomalous, patients


def test_candidate_windows_are_level_plus_minus_half_width():
  assert candidate_windows([40, 300], [400]) == [(-160.0, 240.0), (100.0, 500.0)]
  with pytest.raises(ValueError, match="positive widths"):
    candidate_windows([40], [0])


def test_the_window_that_shows_the_label_ranks_first():
  images, anomalous, patients = _two_window_slices()
  ranking = rank_windows(images, anomalous, patients, WINDOWS, inner_folds=4, n_trees=30, seed=0)
  assert [score.window for score in ranking] == [WINDOWS[1], WINDOWS[0]]
  assert ranking[0].roc_auc > 0.9 > 0.7 > ranking[1].roc_auc
  assert ranking[0].folds_scored == 4


def test_the_choice_never_reads_the_test_slices():
  images, anomalous, patients = _two_window_slices()
  split = Split(train=np.arange(0, 20), val=np.arange(20, 24), test=np.arange(24, 32))
  choice = choose_window(images, anomalous, patients, WINDOWS, split, WINDOWS[0], inner_folds=3, n_trees=30, seed=0)
  assert choice.chosen == WINDOWS[1]
  assert choice.test_roc_auc_chosen > 0.9 and choice.test_roc_auc_configured < choice.test_roc_auc_chosen
  flipped = anomalous.copy()
  flipped[split.test] = ~flipped[split.test]
  scrambled = images.copy()
  scrambled[split.test] = np.random.default_rng(1).normal(size=scrambled[split.test].shape)
  scrambled_test = choose_window(scrambled, flipped, patients, WINDOWS, split, WINDOWS[0], inner_folds=3, n_trees=30,
                                 seed=0)
  assert scrambled_test.ranking == choice.ranking
  # The flipped labels reach the test score, once the choice is made.
  flipped_test = choose_window(images, flipped, patients, WINDOWS, split, WINDOWS[0], inner_folds=3, n_trees=30, seed=0)
  assert flipped_test.ranking == choice.ranking
  assert flipped_test.test_roc_auc_chosen == pytest.approx(1.0 - choice.test_roc_auc_chosen)


def test_bad_input_is_refused_with_what_to_do():
  images, anomalous, patients = _two_window_slices()
  with pytest.raises(ValueError, match="3 windows"):
    rank_windows(images, anomalous, patients, [*WINDOWS, (0.0, 400.0)], inner_folds=4, n_trees=5, seed=0)
  with pytest.raises(ValueError, match="fewer inner folds"):
    rank_windows(images, np.zeros_like(anomalous), patients, WINDOWS, inner_folds=4, n_trees=5, seed=0)
  split = Split(train=np.arange(24), val=np.arange(24, 28), test=np.arange(28, 32))
  with pytest.raises(ValueError, match="not among the candidates; add it"):
    choose_window(images, anomalous, patients, WINDOWS, split, (0.0, 1.0), inner_folds=4, n_trees=5, seed=0)


def _rank(*args, cwd):
  return subprocess.run([sys.executable, str(REPO / "launch" / "rank_windows.py"), *args], cwd=cwd,
                        capture_output=True, text=True, timeout=300)


def test_launcher_ranks_the_phantoms_windows_and_writes_json(tmp_path, dataset_cache):
  result = _rank("--config", str(REPO / "configs" / "smoke.py"), "--levels=40,300", "--widths=400", "--inner_folds=2",
                 "--config.detect.forest_trees=20", "--json", "ranking.json", cwd=tmp_path)
  assert result.returncode == 0, result.stderr
  written = json.loads((tmp_path / "ranking.json").read_text())
  candidates = {(-160.0, 240.0), (100.0, 500.0), (-200.0, 1000.0)}  # the two asked for and smoke's first window
  (split,) = written["splits"]
  assert {tuple(score["window"]) for score in split["ranking"]} == candidates
  assert tuple(split["chosen"]) == tuple(split["ranking"][0]["window"])
  assert 0.0 <= split["test_roc_auc_configured"] <= 1.0
  assert "| 0 | " in result.stdout and "nested test ROC-AUC" in result.stdout


def test_launcher_refuses_bad_widths_in_one_line(tmp_path):
  result = _rank("--config", str(REPO / "configs" / "smoke.py"), "--widths=0", cwd=tmp_path)
  assert result.returncode != 0
  assert result.stderr.strip().splitlines()[-1].startswith("error: --levels/--widths:")
