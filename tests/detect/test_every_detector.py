"""Every detector other than the primary classifier, trained on top of the smoke run and evaluated by the same code."""

import shutil

import numpy as np
import pytest

from configs import smoke
from gancbam_jax.detect import METHODS
from gancbam_jax.experiment import run_experiment

CONTRACT_METRICS = ("accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "pr_auc", "prevalence")


@pytest.mark.parametrize("method", [m for m in METHODS if m != "classifier"])
def test_every_detector_scores_the_test_split(shared_smoke_run, scored_slices, tmp_path, method):
  workdir, _ = shared_smoke_run
  copy = tmp_path / "run"
  shutil.copytree(workdir, copy)
  config = smoke.get_config()
  config.detect.method = method
  results = run_experiment(config, copy)
  assert results["method"] == method
  if method != "atr_gan":  # ATR-GAN adds the generated slices its filter keeps
    assert results["added_training_images"] == {}
  assert all(0.0 <= results[m] <= 1.0 for m in CONTRACT_METRICS)
  scores = np.array([float(r["score"]) for r in scored_slices(copy)["test"]])
  assert np.isfinite(scores).all() and scores.std() > 0
  assert (copy / "plots" / "attention_overlays.png").exists()
  if method == "aclae_dt":
    assert results["threshold_rule"].startswith("non-parametric dynamic threshold (Hundman et al. 2018)")
  if method == "atr_gan":
    account = results["synthetic_filter"]  # how many candidates the filter kept is reported
    assert 0 <= account["kept"] <= account["needed"] and account["candidates"] >= account["needed"]
