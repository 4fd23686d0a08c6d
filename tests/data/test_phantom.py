"""Tests of the synthetic chest CT generator (gancbam_jax.data.phantom) and its DICOM dataset."""

import collections
import csv
import dataclasses
import pathlib
import subprocess
import sys

import numpy as np
import pydicom
import pytest
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian
from sklearn.metrics import roc_auc_score

from gancbam_jax.data import phantom, read_ct_slices

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
# The contract other code reads: the Kaggle overview's columns, then the phantom's labels.
OVERVIEW_HEADER = ["", "Age", "Contrast", "ContrastTag", "raw_input_path", "id", "tiff_name", "dicom_name",
                   "PatientID", "Anomaly", "AnomalyType", "LesionRow", "LesionCol", "LesionRadiusPx"]
MEDIUM = phantom.PRESETS["medium"]
NORMAL_ONLY = dataclasses.replace(MEDIUM, anomaly_fraction=0.0)
DATASET_N, DATASET_SEED = 10, 3
# Used by the AUROC test only, so no other test could have tuned the generator to it.
AUROC_SEED = 918273


def read_overview(path: pathlib.Path) -> tuple[list[str], list[dict[str, str]]]:
  with open(path, newline="") as f:
    reader = csv.reader(f)
    header = next(reader)
    return header, [dict(zip(header, row)) for row in reader]


def interior(mask: np.ndarray) -> np.ndarray:
  """Pixels of mask at least a few pixels from its edge, where blur leaves values alone."""
  return phantom.gaussian_blur(mask.astype(np.float32), 2.0) > 0.999


def max_block_std(image: np.ndarray, mask: np.ndarray, block: int = 32) -> float:
  """The largest standard deviation of image over the pixels of mask in a block x block tile.

  Only tiles at least half covered by mask count.
  """
  def tiles(array):
    return array.reshape(array.shape[0] // block, block, -1, block).swapaxes(1, 2).reshape(-1, block * block)

  values, weights = tiles(image), tiles(mask.astype(np.float32))
  covered = weights.sum(axis=1)
  keep = covered >= block * block / 2
  mean = (values * weights).sum(axis=1)[keep] / covered[keep]
  variance = (((values[keep] - mean[:, None]) ** 2) * weights[keep]).sum(axis=1) / covered[keep]
  return float(np.sqrt(variance.max()))


def with_and_without_anomalies(n: int, seed: int, config: phantom.PhantomConfig):
  """The same slices (same patients, levels, anatomy and noise) with every slice anomalous, and with none."""
  anomalous = dataclasses.replace(config, anomaly_fraction=1.0)
  normal = dataclasses.replace(config, anomaly_fraction=0.0)
  hu, records = phantom.generate_slices(n, seed, anomalous)
  clean, _ = phantom.generate_slices(n, seed, normal)
  return hu.astype(np.float32), clean.astype(np.float32), records


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> pathlib.Path:
  root = tmp_path_factory.mktemp("phantom") / "data"
  phantom.write_dataset(root, DATASET_N, DATASET_SEED, "medium")
  return root


@pytest.fixture(scope="module")
def generated():
  return phantom.generate_slices(DATASET_N, DATASET_SEED, "medium")


def test_same_seed_gives_the_same_slices_and_another_seed_others():
  first, first_records = phantom.generate_slices(4, 11, "medium")
  second, second_records = phantom.generate_slices(4, 11, "medium")
  other, _ = phantom.generate_slices(4, 12, "medium")
  assert first.shape == (4, phantom.IMAGE_SIZE, phantom.IMAGE_SIZE) and first.dtype == np.int16
  np.testing.assert_array_equal(first, second)
  assert first_records == second_records
  assert not np.array_equal(first, other)


def test_same_seed_writes_identical_bytes(tmp_path):
  def files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

  for name, seed in (("a", 5), ("b", 5), ("c", 6)):
    phantom.write_dataset(tmp_path / name, 4, seed, "medium")
  first, second, other = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
  assert len(first) == 5 and first == second
  assert first[pathlib.Path("overview.csv")] != other[pathlib.Path("overview.csv")]


def test_files_read_back_to_the_generated_hounsfield_units(dataset, generated):
  hu, records = generated
  _, rows = read_overview(dataset / "overview.csv")
  for row, expected, record in zip(rows, hu, records):
    slices = read_ct_slices(dataset / "dicom_dir" / row["dicom_name"])
    assert slices.hu.shape == (1, phantom.IMAGE_SIZE, phantom.IMAGE_SIZE)
    assert np.abs(slices.hu[0] - expected).max() <= 1.0
    assert slices.patient_id == record.patient_id == row["PatientID"]


def test_outside_the_field_of_view_is_stored_as_padding(dataset, generated):
  ds = pydicom.dcmread(sorted((dataset / "dicom_dir").glob("*.dcm"))[0])
  stored = ds.pixel_array
  outside = ~phantom.field_of_view()
  padding = -3024 - float(ds.RescaleIntercept)
  assert ds.PixelPaddingValue == padding
  assert np.all(stored[outside] == padding) and np.all(stored[~outside] > padding)
  assert np.all(generated[0][0][outside] == -1000)


def test_dicom_files_have_the_ct_attributes(dataset):
  _, rows = read_overview(dataset / "overview.csv")
  datasets = [pydicom.dcmread(dataset / "dicom_dir" / row["dicom_name"]) for row in rows]
  for ds, row in zip(datasets, rows):
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.SOPClassUID == ds.file_meta.MediaStorageSOPClassUID == CTImageStorage
    assert ds.Modality == "CT" and (ds.Rows, ds.Columns) == (512, 512)
    assert (ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation) == (16, 16, 1)
    assert ds.pixel_array.dtype == np.int16
    assert (float(ds.RescaleIntercept), float(ds.RescaleSlope)) == (-1024.0, 1.0)
    row_spacing, col_spacing = map(float, ds.PixelSpacing)
    assert row_spacing == col_spacing and 0.6 <= row_spacing <= 0.9
    assert ds.PatientID == row["PatientID"] and ds.PatientID.startswith("PHANTOM-") and str(ds.PatientName)
  assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)


def test_patients_have_several_slices_sharing_identity(dataset):
  _, rows = read_overview(dataset / "overview.csv")
  by_patient = collections.defaultdict(list)
  for row in rows:
    by_patient[row["PatientID"]].append(pydicom.dcmread(dataset / "dicom_dir" / row["dicom_name"]))
  assert len(by_patient) >= 2
  studies = set()
  for slices in by_patient.values():
    assert len(slices) >= 2
    assert len({(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.PatientAge, ds.PixelSpacing[0]) for ds in slices}) == 1
    assert sorted(int(ds.InstanceNumber) for ds in slices) == list(range(1, len(slices) + 1))
    assert len({float(ds.SliceLocation) for ds in slices}) == len(slices)
    studies.add(slices[0].StudyInstanceUID)
  assert len(studies) == len(by_patient)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_slice_belongs_to_one_patient_with_several_slices(seed):
  low, high = MEDIUM.slices_per_patient
  for n in range(1, 40):
    plans = phantom.plan_dataset(n, seed, MEDIUM)
    assert [plan.index for patient in plans for plan in patient] == list(range(n))
    assert all(len(patient) >= min(low, n) for patient in plans)
    assert all(len(patient) <= high + low - 1 for patient in plans)
    assert sum(plan.kind != "none" for patient in plans for plan in patient) == round(MEDIUM.anomaly_fraction * n)


def test_overview_is_the_kaggle_table_with_labels(dataset):
  header, rows = read_overview(dataset / "overview.csv")
  assert header == OVERVIEW_HEADER
  assert sorted(row["dicom_name"] for row in rows) == sorted(p.name for p in (dataset / "dicom_dir").iterdir())
  assert [int(row[""]) for row in rows] == [int(row["id"]) for row in rows] == list(range(DATASET_N))
  for row in rows:
    assert row["Contrast"] in ("True", "False") and row["Anomaly"] in ("True", "False")
    assert row["AnomalyType"] in phantom.ANOMALY_TYPES
    assert (row["Anomaly"] == "True") == (row["AnomalyType"] != "none")
    has_lesion = row["AnomalyType"] in phantom.LESION_TYPES
    assert all(bool(row[column]) == has_lesion for column in ("LesionRow", "LesionCol", "LesionRadiusPx"))
    assert row["dicom_name"].endswith(f"_CONTRAST_{int(row['Contrast'] == 'True')}_CT.dcm")
  assert sum(row["Anomaly"] == "True" for row in rows) == round(MEDIUM.anomaly_fraction * DATASET_N)


def test_lesions_have_the_configured_size_place_and_contrast():
  config = dataclasses.replace(MEDIUM, lesion_diameter_mm=(16.0, 24.0), nodule_contrast_hu=(500.0, 700.0),
                               lesion_contrast_hu=(60.0, 80.0), artefact_share=0.0)
  hu, clean, records = with_and_without_anomalies(12, 21, config)
  rows, cols = np.indices(hu.shape[1:])
  assert {r.anomaly_type for r in records} >= {"nodule", "hypodense_lesion", "hyperdense_lesion"}
  for image, reference, record in zip(hu, clean, records):
    assert record.anomaly_type in ("nodule", "hypodense_lesion", "hyperdense_lesion")
    assert 16.0 <= 2 * record.lesion_radius_px * record.pixel_spacing_mm <= 24.0 + 1e-6
    distance = np.hypot(rows - record.lesion_row, cols - record.lesion_col)
    change = image - reference
    core = change[distance < 0.5 * record.lesion_radius_px].mean()
    assert np.sign(core) == np.sign(record.lesion_contrast_hu)
    assert abs(core) >= 0.5 * abs(record.lesion_contrast_hu)
    # Anatomy and scanner noise are drawn apart from the anomaly: away from the lesion nothing differs.
    assert not change[distance > 2 * record.lesion_radius_px].any()


def test_large_lung_lesions_are_masses():
  config = dataclasses.replace(MEDIUM, lesion_diameter_mm=(35.0, 50.0), artefact_share=0.0, lung_lesion_share=1.0,
                               anomaly_fraction=1.0)
  _, records = phantom.generate_slices(4, 2, config)
  assert {r.anomaly_type for r in records} == {"mass"}


def test_artefacts_change_the_scan_as_their_kind_says():
  config = dataclasses.replace(MEDIUM, artefact_share=1.0)
  hu, clean, records = with_and_without_anomalies(16, 4, config)
  assert {r.anomaly_type for r in records} == set(phantom.ARTEFACT_TYPES)
  radius = np.rint(phantom.radius_from_centre_px()).astype(int)
  for image, reference, record in zip(hu, clean, records):
    body = (reference > -500) & phantom.field_of_view()
    change = (image - reference)[body]
    noise = np.sqrt(2) * record.noise_hu
    if record.anomaly_type == "hu_miscalibration":
      assert abs(np.median(change) - record.artefact_strength) < 5
    elif record.anomaly_type == "ring":
      ring_profile = np.bincount(radius[body], (image - reference)[body]) / np.maximum(np.bincount(radius[body]), 1)
      assert np.abs(ring_profile).max() > 0.5 * record.artefact_strength
    elif record.anomaly_type == "noise_burst":
      scanned = (reference > -990) & phantom.field_of_view()  # body and lungs, not the quieter air
      assert max_block_std(image - reference, scanned) > 1.3 * noise
    else:
      # Streaks fade with distance from the metal: the strongest 1 % of the body carries a share of the amplitude.
      assert image.max() >= 3000 and np.percentile(np.abs(change), 99) > 0.2 * record.artefact_strength


def test_mean_slice_hu_does_not_separate_normal_from_anomalous_on_medium():
  hu, records = phantom.generate_slices(240, AUROC_SEED, "medium")
  labels = np.array([r.anomaly for r in records])
  auc = roc_auc_score(labels, hu.reshape(len(hu), -1).mean(axis=1))
  assert 0.35 < auc < 0.65, auc


@pytest.mark.parametrize("patient_index", [0, 1, 2])
def test_tissues_have_plausible_hounsfield_units(patient_index):
  rng = np.random.default_rng([7, patient_index])
  patient = phantom.sample_patient(patient_index, rng, MEDIUM)
  for z in (0.2, 0.6, 0.9):
    anatomy = phantom.render_anatomy(patient, z, rng, skin_markers=False)
    hu = phantom.acquire(anatomy, patient, None, rng).astype(np.float32)
    lung = hu[interior(anatomy.lungs)]
    assert -920 <= np.median(lung) <= -780 and np.mean((lung >= -1000) & (lung <= -600)) > 0.85
    fat = hu[interior(anatomy.hu == np.float32(patient.tissue.fat))]
    assert -130 <= np.median(fat) <= -70 and np.percentile(fat, 99) < -20
    muscle = hu[interior(anatomy.hu == np.float32(patient.tissue.muscle))]
    assert 30 <= np.median(muscle) <= 90 and -60 < np.percentile(muscle, 1) and np.percentile(muscle, 99) < 160
    assert hu.max() > 600  # cortical bone
    air = hu[phantom.field_of_view() & ~anatomy.body & (anatomy.hu == phantom.AIR_HU)]
    assert abs(np.median(air) + 1000) < 10 and hu.min() >= -1024


def test_contrast_enhances_blood_and_organs_only():
  enhanced, enhanced_records = phantom.generate_slices(4, 8, dataclasses.replace(NORMAL_ONLY, contrast_fraction=1.0))
  plain, plain_records = phantom.generate_slices(4, 8, dataclasses.replace(NORMAL_ONLY, contrast_fraction=0.0))
  assert all(r.contrast for r in enhanced_records) and not any(r.contrast for r in plain_records)
  # Same anatomy and noise: enhancing tissue (blood, heart, organs, a little muscle) only gains.
  gain = enhanced.astype(np.int32) - plain
  assert gain.min() >= 0 and gain.max() > 100
  assert np.mean(gain[plain < -950] == 0) > 0.99  # air and lung: only edges of enhanced vessels


def test_config_rejects_bad_ranges_and_unknown_presets():
  with pytest.raises(ValueError, match="lesion_diameter_mm"):
    dataclasses.replace(MEDIUM, lesion_diameter_mm=(20.0, 10.0))
  with pytest.raises(ValueError, match="anomaly_fraction"):
    dataclasses.replace(MEDIUM, anomaly_fraction=1.5)
  with pytest.raises(ValueError, match="unknown phantom preset"):
    phantom.generate_slices(2, 0, "extreme")


def run_make_dataset(*args: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "launch/make_dataset.py", *args], cwd=REPO_ROOT, capture_output=True,
                        text=True, timeout=120)


def test_make_dataset_writes_the_layout_replaces_its_own_and_refuses_others(tmp_path):
  out = tmp_path / "phantom"
  result = run_make_dataset("--out", str(out), "--n", "8", "--seed", "2", "--preset", "easy")
  assert result.returncode == 0, result.stderr
  assert "8 slices" in result.stdout and str(out) in result.stdout
  _, rows = read_overview(out / "overview.csv")
  assert len(rows) == 8 and all((out / "dicom_dir" / row["dicom_name"]).is_file() for row in rows)
  assert run_make_dataset("--out", str(out), "--n", "6").returncode == 0
  assert len(list((out / "dicom_dir").iterdir())) == 6
  foreign = tmp_path / "foreign"
  foreign.mkdir()
  (foreign / "notes.txt").write_text("keep me")
  result = run_make_dataset("--out", str(foreign), "--n", "2")
  assert result.returncode != 0 and "not a phantom dataset" in result.stderr
  assert (foreign / "notes.txt").read_text() == "keep me"


def test_an_interrupted_dataset_is_replaced(tmp_path):
  out = tmp_path / "data"
  phantom.write_dataset(out, 3, 0)
  (out / "overview.csv").unlink()  # as if the run stopped before the table was written
  phantom.write_dataset(out, 2, 1)
  _, rows = read_overview(out / "overview.csv")
  assert len(rows) == 2 == len(list((out / "dicom_dir").iterdir()))
