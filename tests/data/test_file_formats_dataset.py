"""Datasets of PNG slices and NIfTI volumes: the load report's kinds, patients from a column, slice selection."""

import nibabel
import numpy as np
import pytest
from PIL import Image

from gancbam_jax.data import DatasetLayoutError, LayoutSpec, PreprocessSettings, load_ct_dataset

PNG_SETTINGS = PreprocessSettings(hu_windows=((0.0, 255.0),), image_size=16, image_rescale=(1.0, 0.0))


def _png(path, brightness):
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray((np.arange(32 * 32).reshape(32, 32) % 100 + brightness).astype(np.uint8)).save(path)


def _volume(path, slices, offset):
  stored = (np.arange(16 * 16 * slices).reshape(16, 16, slices) % 90 + offset).astype(np.int16)
  nibabel.save(nibabel.Nifti1Image(stored, np.diag([1.0, 1.0, 3.0, 1.0])), path)


def _table(path, rows):
  path.write_text("path,label,patient\n" + "".join(",".join(row) + "\n" for row in rows))


def test_a_png_folder_dataset_loads_names_its_kind_and_uses_the_cache(tmp_path):
  for i in range(2):
    _png(tmp_path / "data" / "normal" / f"n{i}.png", i)
    _png(tmp_path / "data" / "anomalous" / f"a{i}.png", 100 + i)
  first = load_ct_dataset(tmp_path / "data", settings=PNG_SETTINGS, cache_dir=tmp_path / "c", progress=False)
  assert first.report.inputs == {"PNG (8-bit)": 4} and first.report.value_scales == ["8-bit"]
  assert first.report.files_without_patient_id == 4  # each image is its own group, and the report says so
  by_label = {int(label): image.mean() for label, image in zip(first.labels, first.images())}
  assert by_label[first.anomalous_index] - by_label[1 - first.anomalous_index] == pytest.approx(100, abs=0.5)
  again = load_ct_dataset(tmp_path / "data", settings=PNG_SETTINGS, cache_dir=tmp_path / "c", progress=False)
  assert (again.report.decoded_files, again.report.cached_files) == (0, 4)
  other = PreprocessSettings(hu_windows=((0.0, 255.0),), image_size=16, image_rescale=(1.0, 10.0))
  assert load_ct_dataset(tmp_path / "data", settings=other, cache_dir=tmp_path / "c", progress=False
                         ).report.decoded_files == 4  # another rescale is another array


def test_images_without_a_rescale_stop_the_load_with_the_reason(tmp_path):
  for name in ("normal", "anomalous"):
    _png(tmp_path / "data" / name / "x.png", 0)
  with pytest.raises(DatasetLayoutError, match=r"most common reason, for 2 of them: a PNG image carries no "
                                               r"Hounsfield units; set data.image_rescale"):
    load_ct_dataset(tmp_path / "data", settings=PreprocessSettings(image_size=16), cache_dir=tmp_path / "c",
                    progress=False)


def test_volumes_get_patients_from_the_column_and_the_selected_slices(tmp_path):
  root = tmp_path / "data"
  root.mkdir()
  for name, slices, offset in (("p1_a", 6, 0), ("p1_b", 6, 50), ("p2_a", 5, 0), ("p3_a", 6, 50), ("p4_a", 4, 0)):
    _volume(root / f"{name}.nii.gz", slices, offset)
  _table(root / "labels.csv", [["p1_a.nii.gz", "0", "P1"], ["p1_b.nii.gz", "1", "P1"], ["p2_a.nii.gz", "0", "P2"],
                               ["p3_a.nii.gz", "1", "P3"], ["p4_a.nii.gz", "0", ""]])
  layout = LayoutSpec("csv", table="labels.csv", label_column="label", anomalous_value="1", patient_column="patient")
  dataset = load_ct_dataset(root, layout=layout, settings=PreprocessSettings(image_size=16), cache_dir=tmp_path / "c",
                            progress=False, slice_selection=slice(None, None, 2))
  report = dataset.report
  assert report.inputs == {"NIfTI (HU)": 5} and report.value_scales == ["HU"]
  assert report.loaded == 3 + 3 + 3 + 3 + 2 and report.unselected_slices == 27 - report.loaded
  assert report.patients == 4 and report.files_without_patient_id == 1  # the empty cell: the volume is its patient
  by_file = {}
  for record in dataset.records:
    by_file.setdefault(record.rel_path, []).append(record.frame)
  assert by_file["p1_a.nii.gz"] == [0, 2, 4] and by_file["p2_a.nii.gz"] == [0, 2, 4]
  assert {r.patient_id for r in dataset.records if r.rel_path.startswith("p1_")} == {"P1"}
  assert {r.patient_id for r in dataset.records if r.rel_path == "p4_a.nii.gz"} == {"file:p4_a.nii.gz"}
  # Every split groups by these: P1's two volumes, normal and anomalous, always share one.
  assert list(dataset.patient_ids).count("P1") == 6


def test_a_missing_patient_column_is_named(tmp_path):
  _table(tmp_path / "labels.csv", [["a.nii", "1", "P1"]])
  layout = LayoutSpec("csv", table="labels.csv", label_column="label", anomalous_value="1", patient_column="subject")
  with pytest.raises(DatasetLayoutError, match=r"no column 'subject' \(data.patient_column\)"):
    load_ct_dataset(tmp_path, layout=layout, cache_dir=tmp_path / "c", progress=False)
  with pytest.raises(DatasetLayoutError, match="data.patient_column='subject' needs a label table"):
    load_ct_dataset(tmp_path, layout=LayoutSpec("folders", patient_column="subject"), cache_dir=tmp_path / "c",
                    progress=False)
