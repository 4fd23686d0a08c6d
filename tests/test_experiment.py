"""The smoke config from training to report: every output, the protocol, folds, re-evaluation."""

import json
import shutil

import numpy as np
import pytest

from configs import default, smoke
from gancbam_jax.detect import IncompleteRunError, validate_detection_config
from gancbam_jax.detect.classifier import classifier_training_set
from gancbam_jax.experiment import ADDED_FIELDS, evaluate_workdir, run_experiment
from gancbam_jax.methods import METHOD_BASE, METHODS, peer_config, with_fields
from gancbam_jax.train import ConfigError
from gancbam_jax.train.augment import SyntheticImages
from gancbam_jax.train.data import TrainingData
from gancbam_jax.train.pipeline import prepare_run

CONTRACT_METRICS = ("accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "pr_auc", "prevalence")
CONTRACT_KEYS = (*CONTRACT_METRICS, "threshold", "n_test", "detection_ms_p50_batch1", "detection_ms_p50_batch64",
                 "images_per_s_batch64", "device", "method", "dataset")
PLOTS = ("stage_losses.png", "classifier_accuracy.png", "classifier_loss.png", "roc.png", "precision_recall.png",
         "detection_time.png", "metrics.png", "augmentation.png", "attention_overlays.png")


def test_the_smoke_run_writes_every_listed_output(shared_smoke_run):
  workdir, results = shared_smoke_run
  saved = json.loads((workdir / "results.json").read_text())
  assert saved == json.loads(json.dumps(results))
  assert set(CONTRACT_KEYS) <= set(saved)
  assert all(0.0 <= saved[m] <= 1.0 for m in CONTRACT_METRICS)
  assert sum(saved["confusion_matrix"].values()) == saved["n_test"]
  assert all(lo <= hi for lo, hi in (saved["confidence_intervals"][m] for m in ("accuracy", "f1", "roc_auc")))
  assert saved["generated"]["anomalous"]["real_diversity"] > 0  # the mode-collapse / memorisation check
  assert saved["detection_ms_p50_batch64"] > 0 and saved["device"].startswith("cpu")
  assert set(PLOTS) <= {p.name for p in (workdir / "plots").iterdir()}
  report = (workdir / "report.md").read_text()
  assert all(f"(plots/{name})" in report for name in PLOTS)
  assert "reported; internally inconsistent" in report


def test_the_report_names_the_label_meaning(shared_smoke_run):
  workdir, results = shared_smoke_run
  assert "lesion" in results["label_meaning"] and not results["label_is_proxy"]
  assert results["label_meaning"] in (workdir / "report.md").read_text()


def test_only_real_validation_and_test_slices_are_scored(shared_smoke_run, scored_slices):
  workdir, results = shared_smoke_run
  split = json.loads((workdir / "split.json").read_text())
  scored = scored_slices(workdir)
  for name in ("val", "test"):
    assert sorted(int(r["slice_index"]) for r in scored[name]) == split[name]
  assert len(scored["test"]) == results["n_test"]


def test_synthetic_slices_reach_only_the_training_set(shared_smoke_run):
  workdir, _ = shared_smoke_run
  run = prepare_run(smoke.get_config(), workdir, restore_only=True)
  synthetic = SyntheticImages.load(workdir / "augmentation" / "synthetic.npz")
  assert len(synthetic.labels) > 0
  training = classifier_training_set(run, synthetic)
  assert training.images.shape[0] == len(run.data.train_labels) + len(synthetic.labels)
  test_images, _ = run.data.test_images()
  for real in (run.data.val_images, test_images):
    distances = np.abs(real[:, None] - synthetic.images[None]).reshape(len(real), len(synthetic.images), -1).max(-1)
    assert distances.min() > 0, "a synthetic slice is in validation or test"


def test_the_threshold_ignores_test_labels(shared_smoke_run, tmp_path, monkeypatch):
  workdir, results = shared_smoke_run
  copy = tmp_path / "run"
  shutil.copytree(workdir, copy)
  real_test_images = TrainingData.test_images

  def permuted_test_labels(self):
    images, labels = real_test_images(self)
    return images, np.random.default_rng(1).permutation(labels[::-1])

  monkeypatch.setattr(TrainingData, "test_images", permuted_test_labels)
  permuted = evaluate_workdir(copy)
  assert permuted["threshold"] == results["threshold"]
  assert permuted["validation"] == results["validation"]
  assert permuted["confusion_matrix"] != results["confusion_matrix"] or permuted["roc_auc"] != results["roc_auc"]


def test_evaluate_recomputes_the_results_from_checkpoints_without_training(shared_smoke_run, tmp_path):
  workdir, results = shared_smoke_run
  copy = tmp_path / "run"
  shutil.copytree(workdir, copy)
  for name in ("results.json", "report.md", "plots/roc.png"):
    (copy / name).unlink()
  metrics_before = (copy / "metrics.jsonl").read_text()
  again = evaluate_workdir(copy)
  for key in (*CONTRACT_METRICS, "threshold", "confusion_matrix", "selected_checkpoint", "validation"):
    assert again[key] == results[key], key
  assert (copy / "report.md").exists() and (copy / "plots" / "roc.png").exists()
  assert (copy / "metrics.jsonl").read_text() == metrics_before


def test_a_run_written_before_the_newer_config_fields_still_evaluates(shared_smoke_run, tmp_path):
  workdir, results = shared_smoke_run
  copy = tmp_path / "run"
  shutil.copytree(workdir, copy)
  saved = json.loads((copy / "config.json").read_text())
  for section, field in ADDED_FIELDS:
    del saved[section][field]
  (copy / "config.json").write_text(json.dumps(saved))
  again = evaluate_workdir(copy)
  assert again["roc_auc"] == results["roc_auc"] and "peers" not in again


def test_evaluate_refuses_a_run_that_has_not_finished(shared_smoke_run, tmp_path):
  workdir, _ = shared_smoke_run
  with pytest.raises(FileNotFoundError, match="config.json"):
    evaluate_workdir(tmp_path)
  copy = tmp_path / "run"
  shutil.copytree(workdir, copy)
  shutil.rmtree(copy / "checkpoints" / "classifier")
  with pytest.raises(IncompleteRunError, match="classifier"):
    evaluate_workdir(copy)


def test_peers_are_scored_on_the_runs_own_split_as_if_run_alone(shared_smoke_run, tmp_path):
  workdir, _ = shared_smoke_run
  with_peers, alone = tmp_path / "with_peers", tmp_path / "forest_alone"
  for copy in (with_peers, alone):
    shutil.copytree(workdir, copy)
  peers = run_experiment(with_fields(smoke.get_config(), {"eval.peers": "random_forest,no_augmentation,random_trunk"}),
                         with_peers)["peers"]
  forest = run_experiment(with_fields(smoke.get_config(), {"detect.method": "random_forest"}), alone)
  assert list(peers) == ["random_forest", "no_augmentation", "random_trunk"]
  assert peers["random_forest"]["roc_auc"] == forest["roc_auc"]
  assert peers["random_forest"]["confidence_intervals"]["roc_auc"] == forest["confidence_intervals"]["roc_auc"]
  assert "imbalanced training split" in peers["no_augmentation"]["method_description"]
  # The method's classifier and the peer's differ in their start alone, so each keeps a stage of its own.
  assert "trunk from a random initialisation" in peers["random_trunk"]["method_description"]
  assert all((with_peers / "checkpoints" / stage).is_dir() for stage in ("classifier", "classifier_random_trunk"))
  report = (with_peers / "report.md").read_text()
  assert "## Peers on the same split" in report and METHODS["no_augmentation"].label in report


def test_a_peer_is_the_method_it_names_whatever_the_runs_own_detector():
  defaults = default.get_config()
  fields = {field: field.split(".") for field in METHOD_BASE}
  assert {field: defaults[section][name] for field, (section, name) in fields.items()} == METHOD_BASE
  gda_run = with_fields(smoke.get_config(), {"detect.method": "gda", "detect.rebalance": "oversample"})
  peer = peer_config(gda_run, "no_augmentation")
  assert (peer.detect.method, peer.detect.rebalance, peer.augment.classifier) == ("classifier", "none", False)
  assert peer_config(gda_run, "gan_cbam").detect.rebalance == "bagan"


def test_cross_validation_tests_every_slice_once_and_reports_the_spread(dataset_cache, tmp_path):
  del dataset_cache
  config = smoke.get_config()
  config.data.phantom.n = 96  # two folds of the 48-slice smoke set leave fewer training slices than a batch
  config.eval.folds = 2
  # The folds' orchestration is the same for every method; the Gaussian baseline on principal components trains
  # no network, so the test checks the folds in seconds instead of training an autoencoder per fold.
  config.detect.method = "gda"
  config.eval.peers = "random_forest"
  results = run_experiment(config, tmp_path)
  assert len(results["folds"]) == 2 and results["evaluation"].startswith("2-fold")
  tested = [i for k in range(2) for i in json.loads((tmp_path / "folds" / f"fold{k}" / "split.json").read_text())["test"]]
  assert sorted(tested) == sorted(set(tested)) and results["n_test"] == len(tested)
  assert json.loads((tmp_path / "folds" / "fold1" / "results.json").read_text())["evaluation"] == "fold 2 of 2"
  for metric in ("f1", "roc_auc"):
    per_fold = [f[metric] for f in results["folds"]]
    assert results[metric] == pytest.approx(np.mean(per_fold))
    assert results["std"][metric] == pytest.approx(np.std(per_fold, ddof=1))
  forest = [f["peers"]["random_forest"]["roc_auc"] for f in results["folds"]]
  assert results["peers"]["random_forest"]["roc_auc"] == pytest.approx(np.mean(forest))
  assert results["peers"]["random_forest"]["std"]["roc_auc"] == pytest.approx(np.std(forest, ddof=1))
  assert "confidence_intervals" not in results
  assert "±" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize("field, value", [("detect.method", "svm"), ("eval.threshold", "youden"),
                                          ("eval.folds", 0), ("eval.target_fpr", 1.5), ("detect.rebalance", "smote"),
                                          ("detect.aclae_bands", 7), ("detect.pca_components", 0),
                                          ("detect.atr_gan_steps", 0), ("eval.peers", "svm"),
                                          ("eval.peers", "no_cbam"), ("detect.synthetic_share", 1.5),
                                          ("detect.classifier_init", "imagenet")])
def test_unusable_detection_values_are_refused_by_name(field, value):
  with pytest.raises(ConfigError, match=f"config field {field}"):
    validate_detection_config(with_fields(smoke.get_config(), {field: value}))
