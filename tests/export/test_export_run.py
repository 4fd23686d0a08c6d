"""Exporting a trained smoke run: equal scores, a jax-only runtime, an honest manifest, --step, refusals."""

import csv
import json
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest
from flax import serialization

from configs import smoke
from gancbam_jax import models
from gancbam_jax.data.source import preprocess_settings
from gancbam_jax.detect import build_detector, choose_threshold
from gancbam_jax.export import ExportedDetector, ExportError
from gancbam_jax.export.manifest import MANIFEST_FILE, MODEL_FILE, VARIABLES_FILE, sha256_of
from gancbam_jax.export.writer import export_run
from gancbam_jax.train.checkpoints import StageCheckpoints
from gancbam_jax.train.pipeline import prepare_run

REPO = pathlib.Path(__file__).resolve().parents[2]
# Loads and runs an export with the model code and Flax made unimportable: first with jax alone,
# then through gancbam_jax.export's runtime.
JAX_ONLY = """
import importlib.abc, sys
import numpy as np

class Blocked(importlib.abc.MetaPathFinder):
  def find_spec(self, name, path=None, target=None):
    if name.split(".")[0] == "flax" or name.startswith("gancbam_jax.models"):
      raise ImportError(f"{name} is blocked: the export must run without it")

sys.meta_path.insert(0, Blocked())
from jax import export
export_dir, images_file, out_file = sys.argv[1:]
images = np.load(images_file)
exported = export.deserialize(bytearray(open(f"{export_dir}/model.jaxexport", "rb").read()))
plain_scores, _ = exported.call(images)
from gancbam_jax.export import ExportedDetector
scores, heatmaps = ExportedDetector.load(export_dir).score(images, batch_size=4)
np.savez(out_file, plain=np.asarray(plain_scores), scores=scores, heatmaps=heatmaps)
"""


def _export(workdir, out, *flags):
  return subprocess.run([sys.executable, str(REPO / "launch" / "export.py"), f"--workdir={workdir}", f"--out={out}",
                         *flags], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def trained(shared_smoke_run, tmp_path_factory):
  """The session's smoke run, its export by launch/export.py, and the run's detector restored in-process."""
  workdir, results = shared_smoke_run
  export_dir = tmp_path_factory.mktemp("export") / "export"
  exported = _export(workdir, export_dir)
  assert exported.returncode == 0, exported.stderr
  run = prepare_run(smoke.get_config(), workdir, restore_only=True)
  try:
    detector = build_detector(run)
  finally:
    run.log.close()
  return {"workdir": workdir, "results": results, "export": export_dir, "stdout": exported.stdout,
          "run": run, "detector": detector}


@pytest.fixture(scope="module")
def test_images(trained):
  images, _ = trained["run"].data.test_images()
  return images


def test_launch_export_says_what_it_exported(trained):
  manifest = json.loads((trained["export"] / MANIFEST_FILE).read_text())
  assert f"exported the classifier detector (classifier step {manifest['selected_checkpoint']['step']})" \
      in trained["stdout"]


def test_exported_scores_equal_the_checkpoints(trained, test_images):
  expected_scores, expected_heatmaps = trained["detector"].score(test_images, batch_size=8)
  scores, heatmaps = ExportedDetector.load(trained["export"]).score(test_images, batch_size=8)
  assert np.abs(scores - expected_scores).max() <= 1e-5
  assert heatmaps.shape == test_images.shape[:3]
  assert expected_heatmaps.shape[1] < heatmaps.shape[1]  # the attention map, resized to the slice


def test_the_export_runs_where_flax_and_the_model_code_cannot_be_imported(trained, test_images, tmp_path):
  np.save(tmp_path / "images.npy", test_images)
  result = subprocess.run([sys.executable, "-c", JAX_ONLY, str(trained["export"]), str(tmp_path / "images.npy"),
                           str(tmp_path / "scores.npz")], capture_output=True, text=True, timeout=300, cwd=REPO)
  assert result.returncode == 0, result.stderr
  outputs = np.load(tmp_path / "scores.npz")
  expected, _ = trained["detector"].score(test_images, batch_size=8)
  assert np.abs(outputs["plain"] - expected).max() <= 1e-5
  assert np.abs(outputs["scores"] - expected).max() <= 1e-5


def test_the_manifest_holds_the_runs_preprocessing_threshold_and_metrics(trained):
  manifest = json.loads((trained["export"] / MANIFEST_FILE).read_text())
  results, workdir = trained["results"], trained["workdir"]
  data = json.loads((workdir / "data.json").read_text())
  assert manifest["threshold"] == results["threshold"]  # the same variables, the same validation split
  assert manifest["threshold_rule"] == results["threshold_rule"]
  assert {k: manifest["test_metrics"][k] for k in ("accuracy", "f1", "roc_auc", "pr_auc", "n_test")} == \
      {k: results[k] for k in ("accuracy", "f1", "roc_auc", "pr_auc", "n_test")}
  assert manifest["validation_metrics"] == results["validation"]
  assert manifest["preprocess"] == preprocess_settings(smoke.get_config().data).to_dict()
  assert manifest["normalization"] == data["normalization"]
  assert manifest["class_names"] == data["classes"] and manifest["labels"]["flagged"] == data["anomalous_class"]
  channels = len(smoke.get_config().data.hu_windows)
  assert manifest["input"]["shape"] == [None, 64, 64, channels] and manifest["input"]["dtype"] == "float32"
  assert set(manifest["platforms"]) == {"cpu", "cuda"}
  assert manifest["versions"]["jax"] and manifest["versions"]["flax"] and manifest["package"]["version"]
  for name in (MODEL_FILE, VARIABLES_FILE):
    assert manifest["files"][name]["sha256"] == sha256_of(trained["export"] / name)


def test_variables_msgpack_restores_the_flax_variables(trained, test_images):
  detector = trained["detector"]
  restored = serialization.msgpack_restore((trained["export"] / VARIABLES_FILE).read_bytes())
  classifier = models.build_classifier(trained["run"].autoencoder)
  logits = classifier.apply(restored, test_images, train=False)
  anomalous = trained["run"].data.dataset.anomalous_index
  expected, _ = detector.score(test_images, batch_size=8)
  probabilities = jax.nn.softmax(logits)[:, anomalous]
  assert np.abs(probabilities - expected).max() <= 1e-5


def test_another_step_is_exported_with_a_threshold_chosen_for_it(trained, tmp_path):
  workdir = trained["workdir"]
  selected = trained["detector"].selection["step"]
  checkpoints = StageCheckpoints(workdir / "checkpoints" / "classifier")
  other = next(s for s in checkpoints.all_steps() if s != selected)
  checkpoints.close()
  manifest = export_run(workdir, tmp_path / "other", step=other)
  assert manifest["selected_checkpoint"] == {"stage": "classifier", "step": other, "criterion": "chosen by the user"}
  assert manifest["files"][VARIABLES_FILE]["sha256"] != sha256_of(trained["export"] / VARIABLES_FILE)
  run = trained["run"]
  val_scores, _ = ExportedDetector.load(tmp_path / "other").score(run.data.val_images, batch_size=8)
  val_labels = (run.data.val_labels == run.data.dataset.anomalous_index).astype(int)
  assert manifest["threshold"] == pytest.approx(choose_threshold(val_scores, val_labels, "max_f1", 0.05), abs=1e-5)


def test_a_step_that_was_not_kept_is_refused_listing_those_that_were(trained):
  with pytest.raises(ValueError, match=r"no checkpoint at step 999 .* it keeps steps \[\d+(, \d+)*\]"):
    trained["detector"].at_step(trained["workdir"], 999)


def test_a_cross_validation_is_refused_pointing_at_its_folds(tmp_path):
  config = smoke.get_config()
  config.eval.folds = 2
  (tmp_path / "config.json").write_text(config.to_json())
  with pytest.raises(ExportError, match=r"2-fold cross-validation with one model per fold.*folds/fold0"):
    export_run(tmp_path, tmp_path / "export")


def test_an_out_directory_holding_other_files_is_refused_before_restoring(tmp_path):
  (tmp_path / "notes.txt").write_text("mine")
  with pytest.raises(ExportError, match=r"holds files that are not an export \(notes.txt\)"):
    export_run(tmp_path / "no-run-here", tmp_path)
  assert (tmp_path / "notes.txt").read_text() == "mine"


def test_launch_export_refuses_a_directory_without_a_run(tmp_path):
  result = _export(tmp_path, tmp_path / "export")
  assert result.returncode == 1
  assert "config.json" in result.stderr and "Traceback" not in result.stderr


def test_no_file_of_the_run_or_its_export_holds_a_patient_identifier(trained):
  """The phantom's PatientIDs are PHANTOM-nnnn: none may appear in any CSV, JSON, PNG, event file or checkpoint."""
  inspected = [path for directory in (trained["workdir"], trained["export"]) for path in directory.rglob("*")
               if path.is_file()]
  suffixes = {path.suffix for path in inspected}
  assert {".csv", ".json", ".png", ".md", ".jaxexport", ".msgpack"} <= suffixes
  leaking = [str(path) for path in inspected if b"PHANTOM-" in path.read_bytes()]
  assert leaking == []
  with (trained["workdir"] / "scores.csv").open(newline="") as f:
    rows = list(csv.DictReader(f))
  run = trained["run"]
  by_index = {int(r["slice_index"]): r["patient"] for r in rows}
  for real, pseudonymous in zip(run.data.dataset.patient_ids[list(by_index)], by_index.values()):
    assert pseudonymous.startswith("patient-")
    # One patient, one pseudonym: per-patient analysis of the scores still works.
    assert {by_index[i] for i in by_index if run.data.dataset.patient_ids[i] == real} == {pseudonymous}
