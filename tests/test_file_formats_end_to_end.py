"""A smoke run from PNG slices and one from NIfTI volumes: load, train, report, export, detect.

Both datasets are written by the test from the built-in set's DICOM slices: 16-bit PNG storing
HU + 1024 in the folders layout, and one NIfTI volume per patient and class in the csv layout
with a patient column.
"""

import csv

import nibabel
import numpy as np
import pytest
from PIL import Image

from configs import smoke
from gancbam_jax.data.dicom import read_ct_slices
from gancbam_jax.data.layouts import LayoutSpec, list_labelled_files
from gancbam_jax.data.source import dataset_root
from gancbam_jax.experiment import run_experiment
from gancbam_jax.export import ExportedDetector, detect_files, list_inputs
from gancbam_jax.export.writer import export_run
from gancbam_jax.train.data import prepare_training_data

# Voxel axes anterior -> posterior, right -> left, superior -> inferior: a DICOM slice's rows and columns as stored.
DICOM_ORDER_AFFINE = np.array([[0, -0.7, 0, 0], [-0.7, 0, 0, 0], [0, 0, -5.0, 0], [0, 0, 0, 1]])


@pytest.fixture(scope="module")
def phantom_slices(dataset_cache):
  """[(HU slice, label name, PatientID, DICOM path)] of the smoke config's built-in set."""
  del dataset_cache
  data = smoke.get_config().data
  root = dataset_root(data)
  listing = list_labelled_files(root, LayoutSpec(label_column=data.label_column))
  slices = []
  for item in listing.files:
    decoded = read_ct_slices(item.path)
    slices.append((decoded.hu[0], listing.class_names[item.label], decoded.patient_id, item.path))
  return slices


def _rows(path):
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def _config(root, **data):
  config = smoke.get_config()
  config.data.source, config.data.root = "directory", str(root)
  for field, value in data.items():
    setattr(config.data, field, value)
  return config


def test_a_png_dataset_trains_reports_exports_and_its_model_scores_png_not_dicom(phantom_slices, tmp_path):
  root = tmp_path / "png"
  for i, (hu, label, _, _) in enumerate(phantom_slices):
    (root / label).mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(hu + 1024, 0, 65535).astype(np.uint16)).save(root / label / f"slice{i:03d}.png")
  workdir = tmp_path / "run"
  config = _config(root, image_rescale=(1.0, -1024.0), layout="folders")
  config.detect.rebalance = "class_weights"  # a trained, exported network without BAGAN: the file format is the point
  results = run_experiment(config, workdir)

  n = len(phantom_slices)
  assert results["inputs"].startswith(f"{n} PNG (16-bit); images as value = 1 x stored + -1024 (data.image_rescale)")
  assert f"- Files read: {n} PNG (16-bit)" in (workdir / "report.md").read_text()
  assert 0.0 <= results["roc_auc"] <= 1.0
  manifest = export_run(workdir, tmp_path / "export")
  assert manifest["trained_on"] == {"files": {"PNG (16-bit)": n}, "value_scales": ["16-bit"]}

  model = ExportedDetector.load(tmp_path / "export")
  summary = detect_files(model, list_inputs(root), tmp_path / "png_scores.csv", progress=False)
  assert (summary.slices, summary.failed_files) == (n, 0)
  dicom_dir = phantom_slices[0][3].parent
  detect_files(model, list_inputs(dicom_dir), tmp_path / "dicom_scores.csv", progress=False)
  refused = [row for row in _rows(tmp_path / "dicom_scores.csv") if row["error"]]
  assert refused and all("a DICOM file of HU values, but the model was trained on files of 16-bit values"
                         in row["error"] for row in refused)
  assert len(refused) == len(_rows(tmp_path / "dicom_scores.csv"))


def test_a_nifti_dataset_groups_by_the_patient_column_and_its_export_scores_volumes(phantom_slices, tmp_path):
  root = tmp_path / "nifti"
  root.mkdir()
  volumes: dict[tuple[str, str], list[np.ndarray]] = {}
  for hu, label, patient, _ in phantom_slices:
    volumes.setdefault((patient, label), []).append(hu)
  table = [["path", "finding", "subject"]]
  for (patient, label), stack in sorted(volumes.items()):
    name = f"{patient}_{label}.nii.gz"
    image = nibabel.Nifti1Image(np.stack(stack, axis=-1).astype(np.int16), DICOM_ORDER_AFFINE)
    nibabel.save(image, root / name)
    table.append([name, label, patient])
  (root / "volumes.csv").write_text("".join(",".join(row) + "\n" for row in table))
  config = _config(root, layout="csv", table="volumes.csv", label_column="finding", anomalous_value="anomalous",
                   patient_column="subject")
  config.detect.method = "random_forest"  # no training stage: the data path is what this test is about
  workdir = tmp_path / "run"
  results = run_experiment(config, workdir)

  assert results["inputs"].startswith(f"{len(volumes)} NIfTI (HU); DICOM and NIfTI in Hounsfield units")
  data = prepare_training_data(config.data, progress=False)
  report, groups = data.dataset.report, data.dataset.patient_ids
  assert report.patients == len({patient for patient, _ in volumes}) and report.files_without_patient_id == 0
  train, val, test = (set(groups[indices]) for indices in (data.split.train, data.split.val, data.split.test))
  assert not (train & val or train & test or val & test)  # a patient's normal and anomalous volumes share a split
  export_run(workdir, tmp_path / "export")
  summary = detect_files(ExportedDetector.load(tmp_path / "export"), list_inputs(root / table[1][0]),
                         tmp_path / "scores.csv", progress=False)
  assert (summary.slices, summary.failed_files) == (len(volumes[(table[1][2], table[1][1])]), 0)
