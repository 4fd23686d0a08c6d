"""Which HU window shows a dataset's label: candidate windows ranked by the random-forest peer.

A window is applied before the area resize, so a 64x64 pixel averages only what lies inside it:
the paper's (-200, 1000) spends most of its grey levels on fat, air and bone, and a label that is
a rise of 100-300 HU in blood and organs (contrast enhancement) fills a sliver of them. No model
downstream can learn what preprocessing averaged away.

Each candidate window is scored by the ROC-AUC of the project's random-forest peer in an inner
patient-grouped cross-validation over the slices a split lets a model learn from (its training and
validation slices), never its test slices. Over K outer folds this is nested cross-validation:
each fold chooses its window from its own non-test slices, and its test slices score the forest at
that window once, beside the configured window, which estimates what choosing a window this way
is worth on unseen patients.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Sequence

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from gancbam_jax.data import Split
from gancbam_jax.detect.forest import balanced_forest

Window = tuple[float, float]


@dataclasses.dataclass(frozen=True)
class WindowScore:
  """One window's inner cross-validated ROC-AUC: mean and sample sd over the inner folds it could be scored on."""

  window: Window
  roc_auc: float
  roc_auc_sd: float
  folds_scored: int


@dataclasses.dataclass(frozen=True)
class FoldChoice:
  """One outer split: the windows ranked on its non-test slices, and the forest's test ROC-AUC at the chosen
  window and at the configured one, each trained on the split's training slices."""

  ranking: list[WindowScore]
  test_roc_auc_chosen: float
  test_roc_auc_configured: float

  @property
  def chosen(self) -> Window:
    return self.ranking[0].window

  def score(self, window: Window) -> WindowScore:
    """The inner score of one of the ranked windows."""
    return next(score for score in self.ranking if score.window == tuple(window))


def candidate_windows(levels: Sequence[float], widths: Sequence[float]) -> list[Window]:
  """Every (level - width / 2, level + width / 2) of the given levels and widths (HU), as radiologists name them."""
  if not levels or not widths or min(widths) <= 0:
    raise ValueError(f"window candidates need at least one level and positive widths; got levels {list(levels)}, "
                     f"widths {list(widths)}")
  return [(level - width / 2, level + width / 2) for level, width in itertools.product(levels, widths)]


def _pixels(images: np.ndarray, channel: int) -> np.ndarray:
  return images[..., channel].reshape(len(images), -1)


def rank_windows(images: np.ndarray, anomalous: np.ndarray, patients: np.ndarray, windows: Sequence[Window], *,
                 inner_folds: int, n_trees: int, seed: int) -> list[WindowScore]:
  """Windows ranked best first by the forest's patient-grouped inner CV ROC-AUC.

  Args:
    images: (N, S, S, W) slices, channel w preprocessed through windows[w].
    anomalous: (N,) 0/1 labels. patients: (N,) patient of each slice; no patient is on both sides of an inner fold.
    inner_folds: inner folds; one whose held-out part holds a single class cannot give a ROC-AUC and is not
      counted (`folds_scored` says how many were).

  Raises:
    ValueError: the channels and windows disagree, or no inner fold holds both classes.
  """
  if images.shape[-1] != len(windows):
    raise ValueError(f"{images.shape[-1]} image channels for {len(windows)} windows: preprocess one channel per window")
  anomalous = np.asarray(anomalous).astype(bool)
  splitter = StratifiedGroupKFold(inner_folds, shuffle=True, random_state=seed)
  inner = [(fit, held) for fit, held in splitter.split(images, anomalous, patients)
           if anomalous[held].any() and not anomalous[held].all() and anomalous[fit].any() and not anomalous[fit].all()]
  if not inner:
    raise ValueError(f"none of {inner_folds} patient-grouped inner folds holds both classes on both sides: the "
                     f"{anomalous.sum()} anomalous slices of {len(anomalous)} are too few; use fewer inner folds")
  scores = []
  for channel, window in enumerate(windows):
    pixels = _pixels(images, channel)
    aucs = [roc_auc_score(anomalous[held], balanced_forest(n_trees, seed).fit(pixels[fit], anomalous[fit])
                          .predict_proba(pixels[held])[:, 1]) for fit, held in inner]
    spread = float(np.std(aucs, ddof=1)) if len(aucs) > 1 else 0.0  # the sample sd, as every fold summary reports
    scores.append(WindowScore(tuple(window), float(np.mean(aucs)), spread, len(aucs)))
  return sorted(scores, key=lambda score: -score.roc_auc)


def _test_roc_auc(images: np.ndarray, anomalous: np.ndarray, split: Split, channel: int, n_trees: int,
                  seed: int) -> float:
  pixels = _pixels(images, channel)
  forest = balanced_forest(n_trees, seed).fit(pixels[split.train], anomalous[split.train])
  return float(roc_auc_score(anomalous[split.test], forest.predict_proba(pixels[split.test])[:, 1]))


def choose_window(images: np.ndarray, anomalous: np.ndarray, patients: np.ndarray, windows: Sequence[Window],
                  split: Split, configured: Window, *, inner_folds: int, n_trees: int, seed: int) -> FoldChoice:
  """Ranks the windows on one split's training and validation slices, then scores its test slices once.

  `configured` must be one of `windows`. The test slices' labels are read only after the ranking.
  """
  windows = [tuple(window) for window in windows]
  if tuple(configured) not in windows:
    raise ValueError(f"the configured window {tuple(configured)} is not among the candidates; add it")
  anomalous = np.asarray(anomalous).astype(bool)
  learn = np.concatenate([split.train, split.val])
  ranking = rank_windows(images[learn], anomalous[learn], np.asarray(patients)[learn], windows,
                         inner_folds=inner_folds, n_trees=n_trees, seed=seed)
  chosen, mine = windows.index(ranking[0].window), windows.index(tuple(configured))
  # One forest per distinct channel: the chosen window is often the configured one.
  test = {channel: _test_roc_auc(images, anomalous, split, channel, n_trees, seed) for channel in {chosen, mine}}
  return FoldChoice(ranking, test[chosen], test[mine])
