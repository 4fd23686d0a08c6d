"""Inference with an export: the loaded function, scoring files with error rows, heatmaps, no PHI, refusals.

The export here holds a freshly initialised CBAM classifier (no training): these tests are about
what detection does with files, not about how well the model scores. The export of a trained run
is tested in test_export_run.py.
"""

import csv
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pydicom
import pytest
from PIL import Image

from gancbam_jax import models
from gancbam_jax.data import PreprocessSettings, load_ct_dataset
from gancbam_jax.data.normalize import MinMaxStats
from gancbam_jax.detect.detectors import Detector, TrainedVariables, classifier_outputs
from gancbam_jax.export import COLUMNS, ExportedDetector, ExportError, detect_files, list_inputs
from gancbam_jax.export.inference import heatmap_path
from gancbam_jax.export.manifest import MANIFEST_FILE, MODEL_FILE
from gancbam_jax.export.overlay import overlay_rgb
from gancbam_jax.export.writer import serving_function, write_export

REPO = pathlib.Path(__file__).resolve().parents[2]
IMAGE_SIZE = 64
SETTINGS = PreprocessSettings(image_size=IMAGE_SIZE)
NORMALIZATION = MinMaxStats(x_min=-200.0, x_max=1000.0)
PHI = {"PatientName": "Doe^Jane^Quinn", "PatientID": "PHI-ID-4711", "PatientBirthDate": "19420817"}


@pytest.fixture(scope="module")
def serving():
  """(serving function, variables) of a freshly initialised CBAM classifier."""
  autoencoder = models.build_autoencoder("cbam", IMAGE_SIZE, 16, jnp.float32, "subpixel")
  classifier = models.build_classifier(autoencoder)
  variables = models.init_variables(classifier, jax.random.key(0))
  outputs = jax.jit(classifier_outputs(classifier, 1))
  detector = Detector("classifier", outputs, variables, "attention", {}, {}, TrainedVariables("classifier"),
                      "a freshly initialised classifier")
  return serving_function(detector, IMAGE_SIZE), variables


def _export(out, serving, settings: PreprocessSettings, normalization: MinMaxStats, **manifest) -> pathlib.Path:
  function, variables = serving
  write_export(out, function, variables, (IMAGE_SIZE, IMAGE_SIZE, 1), {
      "method": "classifier", "heatmap": "attention", "preprocess": settings.to_dict(),
      "normalization": normalization.to_dict(), "threshold": 0.5,
      "labels": {"flagged": "anomalous", "not_flagged": "normal"}, **manifest})
  return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory, serving):
  """(export directory, the in-process serving function it was exported from); its manifest predates trained_on."""
  return _export(tmp_path_factory.mktemp("export"), serving, SETTINGS, NORMALIZATION), serving[0]


@pytest.fixture(scope="module")
def model(exported):
  return ExportedDetector.load(exported[0])


def _rows(path) -> list[dict]:
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def _mixed_folder(root, write_ct, bundled_dicom):
  """Three good CT files (one with 3 frames), a truncated DICOM, a text file and an RT plan."""
  write_ct(root / "a.dcm", "P1")
  write_ct(root / "sub" / "b.dcm", "P2", hu_offset=300)
  write_ct(root / "sub" / "multi.dcm", "P3", frames=3)
  (root / "broken.dcm").write_bytes(bundled_dicom("CT_small.dcm").read_bytes()[:-5000])
  (root / "notes.txt").write_text("not an image")
  (root / "plan.dcm").write_bytes(bundled_dicom("rtplan.dcm").read_bytes())


def test_the_loaded_export_computes_what_was_exported(exported, model):
  _, function = exported
  images = np.random.default_rng(0).uniform(size=(5, IMAGE_SIZE, IMAGE_SIZE, 1)).astype(np.float32)
  scores, heatmaps = model(images)
  expected_scores, expected_heatmaps = function(images)
  assert heatmaps.shape == (5, IMAGE_SIZE, IMAGE_SIZE)
  np.testing.assert_allclose(scores, expected_scores, atol=1e-6)
  np.testing.assert_allclose(heatmaps, expected_heatmaps, atol=1e-6)
  assert np.ptp(scores) > 0


def test_batched_scoring_pads_the_last_batch_without_changing_any_score(model):
  images = np.random.default_rng(1).uniform(size=(7, IMAGE_SIZE, IMAGE_SIZE, 1)).astype(np.float32)
  whole, _ = model(images)
  batched, heatmaps = model.score(images, batch_size=3)
  assert batched.shape == (7,) and heatmaps.shape == (7, IMAGE_SIZE, IMAGE_SIZE)
  np.testing.assert_allclose(batched, whole, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 32, 32, 1), (2, IMAGE_SIZE, IMAGE_SIZE), (2, IMAGE_SIZE, IMAGE_SIZE, 3)])
def test_an_input_of_the_wrong_shape_is_refused_naming_the_expected_one(model, shape):
  with pytest.raises(ValueError, match=rf"takes images of shape \(N, {IMAGE_SIZE}, {IMAGE_SIZE}, 1\).*got shape"):
    model(np.zeros(shape, np.float32))


def test_integer_images_are_refused(model):
  with pytest.raises(ValueError, match="floating-point"):
    model(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1), np.uint8))


def test_a_directory_gets_a_row_per_slice_and_an_error_row_per_bad_file(model, tmp_path, write_ct, bundled_dicom):
  _mixed_folder(tmp_path / "in", write_ct, bundled_dicom)
  summary = detect_files(model, list_inputs(tmp_path / "in"), tmp_path / "scores.csv", progress=False)
  rows = _rows(tmp_path / "scores.csv")
  assert tuple(rows[0]) == COLUMNS
  assert [(r["path"], r["frame"]) for r in rows] == [
      ("a.dcm", "0"), ("broken.dcm", ""), ("notes.txt", ""), ("plan.dcm", ""), ("sub/b.dcm", "0"),
      ("sub/multi.dcm", "0"), ("sub/multi.dcm", "1"), ("sub/multi.dcm", "2")]
  errors = {r["path"]: r["error"] for r in rows if r["error"]}
  assert "truncated" in errors["broken.dcm"] and "not a DICOM" in errors["notes.txt"]
  assert "no pixel data" in errors["plan.dcm"]
  scored = [r for r in rows if not r["error"]]
  assert all(r["sop_instance_uid"] for r in scored)
  assert all(r["label"] == ("anomalous" if float(r["score"]) >= model.threshold else "normal") for r in scored)
  assert len({r["score"] for r in scored}) > 1  # frames and files differ, so do their scores
  assert (summary.files, summary.failed_files, summary.slices) == (6, 3, 5)
  assert summary.flagged_slices == sum(r["label"] == "anomalous" for r in scored)


def test_detection_scores_the_slices_training_would_load(model, tmp_path, write_ct):
  """The same preprocessing path: detect.py's scores equal the model on the training loader's slices."""
  for i in range(3):
    write_ct(tmp_path / "data" / "normal" / f"n{i}.dcm", f"N{i}", hu_offset=40 * i)
    write_ct(tmp_path / "data" / "anomalous" / f"a{i}.dcm", f"A{i}", hu_offset=300 + 40 * i)
  dataset = load_ct_dataset(tmp_path / "data", settings=SETTINGS, cache_dir=tmp_path / "cache", progress=False)
  loaded, _ = model.score(NORMALIZATION.apply(dataset.images()), batch_size=4)
  detect_files(model, list_inputs(tmp_path / "data"), tmp_path / "scores.csv", batch_size=4, progress=False)
  detected = {r["path"]: float(r["score"]) for r in _rows(tmp_path / "scores.csv")}
  assert len(detected) == len(dataset.records) == 6
  for record, score in zip(dataset.records, loaded):
    assert detected[record.rel_path] == pytest.approx(score, abs=1e-5)


def test_heatmaps_are_written_per_scored_slice_inside_the_heatmap_directory(model, tmp_path, write_ct, bundled_dicom):
  _mixed_folder(tmp_path / "in", write_ct, bundled_dicom)
  detect_files(model, list_inputs(tmp_path / "in"), tmp_path / "scores.csv", heatmaps_dir=tmp_path / "maps",
               progress=False)
  written = sorted(p.relative_to(tmp_path / "maps").as_posix() for p in (tmp_path / "maps").rglob("*.png"))
  assert written == ["a.dcm.png", "sub/b.dcm.png", "sub/multi.dcm.frame0000.png", "sub/multi.dcm.frame0001.png",
                     "sub/multi.dcm.frame0002.png"]


def test_a_heatmap_path_never_leaves_the_heatmap_directory(tmp_path):
  for frame, frames in ((0, 1), (2, 3)):
    path = heatmap_path(tmp_path / "maps", "../../outside/x.dcm", frame, frames)
    assert path.is_relative_to(tmp_path / "maps")


def test_an_overlay_shows_the_slice_and_tints_it_where_the_map_is_high():
  image = np.full((8, 8), 0.5)
  heatmap = np.zeros((8, 8))
  heatmap[2, 3] = 1.0
  rgb = overlay_rgb(image, heatmap, upscale=1)
  assert rgb.shape == (8, 8 + 2 + 8, 3)
  np.testing.assert_allclose(rgb[:, :8], 0.5)  # the slice alone
  overlaid = rgb[:, 10:]
  assert not np.allclose(overlaid[2, 3], 0.5)  # tinted at the peak
  np.testing.assert_allclose(overlaid[0, 0], 0.5)  # untouched where the map is at its minimum


def test_no_patient_name_id_or_birth_date_reaches_any_output(model, tmp_path, write_ct):
  path = write_ct(tmp_path / "in" / "slice.dcm", PHI["PatientID"])
  ds = pydicom.dcmread(path)
  ds.PatientName, ds.PatientBirthDate = PHI["PatientName"], PHI["PatientBirthDate"]
  ds.save_as(path)
  detect_files(model, list_inputs(tmp_path / "in"), tmp_path / "out" / "scores.csv",
               heatmaps_dir=tmp_path / "out" / "maps", progress=False)
  outputs = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
  assert len(outputs) == 2
  for output in outputs:
    content = output.read_bytes()
    for value in (PHI["PatientID"], "Doe", "Jane", PHI["PatientBirthDate"]):
      assert value.encode() not in content, f"{value} written to {output.name}"


def _detect(model_dir, input_path, out):
  return subprocess.run([sys.executable, str(REPO / "launch" / "detect.py"), f"--model={model_dir}",
                         f"--input={input_path}", f"--out={out}", "--batch-size=2"],
                        capture_output=True, text=True, timeout=300)


def test_launch_detect_scores_a_directory_and_prints_a_summary(exported, tmp_path, write_ct, bundled_dicom):
  _mixed_folder(tmp_path / "in", write_ct, bundled_dicom)
  result = _detect(exported[0], tmp_path / "in", tmp_path / "scores.csv")
  assert result.returncode == 0, result.stderr
  assert "scored 3 of 6 files (5 slices)" in result.stdout and "failed: 3 files" in result.stdout
  assert len(_rows(tmp_path / "scores.csv")) == 8


def test_launch_detect_refuses_a_tampered_export(exported, tmp_path, write_ct):
  tampered = tmp_path / "export"
  tampered.mkdir()
  for p in exported[0].iterdir():
    (tampered / p.name).write_bytes(p.read_bytes())
  with (tampered / MODEL_FILE).open("r+b") as f:
    f.seek(100)
    f.write(b"\x00\x01\x02")
  write_ct(tmp_path / "in" / "a.dcm", "P1")
  result = _detect(tampered, tmp_path / "in", tmp_path / "scores.csv")
  assert result.returncode == 1
  assert f"{MODEL_FILE} does not match the SHA-256 recorded in {MANIFEST_FILE}" in result.stderr
  assert "Traceback" not in result.stderr and not (tmp_path / "scores.csv").exists()
  with pytest.raises(ExportError):
    ExportedDetector.load(tampered)


def _png(path, offset=0):
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray((np.arange(80 * 80).reshape(80, 80) % 200 + offset).astype(np.uint8)).save(path)


def test_a_model_trained_on_png_scores_png_and_refuses_dicom_and_16_bit(serving, tmp_path, write_ct):
  settings = PreprocessSettings(hu_windows=((0.0, 255.0),), image_size=IMAGE_SIZE, image_rescale=(1.0, 0.0))
  model = ExportedDetector.load(_export(tmp_path / "export", serving, settings, MinMaxStats(x_min=0.0, x_max=255.0),
                                        trained_on={"files": {"PNG (8-bit)": 40}, "value_scales": ["8-bit"]}))
  _png(tmp_path / "in" / "a.png")
  Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)).save(tmp_path / "in" / "deep.tif")
  write_ct(tmp_path / "in" / "ct.dcm", "P1")
  summary = detect_files(model, list_inputs(tmp_path / "in"), tmp_path / "scores.csv", progress=False)
  rows = {row["path"]: row for row in _rows(tmp_path / "scores.csv")}
  assert (summary.slices, summary.failed_files) == (1, 2)
  assert rows["a.png"]["score"] and not rows["a.png"]["error"]
  assert "a DICOM file of HU values, but the model was trained on files of 8-bit values" in rows["ct.dcm"]["error"]
  assert "a TIFF file of 16-bit values" in rows["deep.tif"]["error"]


def test_a_model_of_dicom_refuses_png_and_an_export_without_trained_on_means_hu(serving, model, tmp_path, write_ct):
  assert model.value_scales == ("HU",)  # exports from before trained_on were all of DICOM
  settings = PreprocessSettings(image_size=IMAGE_SIZE, image_rescale=(1.0, -1024.0))  # so the PNG decodes
  dicom_model = ExportedDetector.load(_export(tmp_path / "export", serving, settings, NORMALIZATION,
                                              trained_on={"files": {"DICOM (HU)": 40}, "value_scales": ["HU"]}))
  _png(tmp_path / "in" / "a.png")
  write_ct(tmp_path / "in" / "ct.dcm", "P1")
  detect_files(dicom_model, list_inputs(tmp_path / "in"), tmp_path / "scores.csv", progress=False)
  rows = {row["path"]: row for row in _rows(tmp_path / "scores.csv")}
  assert rows["ct.dcm"]["score"] and not rows["ct.dcm"]["error"]
  assert "a PNG file of 8-bit values, but the model was trained on files of HU values" in rows["a.png"]["error"]
