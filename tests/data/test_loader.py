"""Loading a dataset: skipped files with reasons, strict mode, the cache, parallel decoding, streaming."""

import json

import numpy as np
import pytest

from gancbam_jax.data import DatasetLayoutError, PreprocessSettings, load_ct_dataset


def _make_mixed_folder(root, write_ct, bundled_dicom, n_per_class=3):
  """Class folders with valid CT files plus a truncated file, a text file and an RT plan."""
  for i in range(n_per_class):
    write_ct(root / "normal" / f"n{i}.dcm", f"N{i}", hu_offset=0)
    write_ct(root / "anomalous" / f"a{i}.dcm", f"A{i}", hu_offset=300)
  data = bundled_dicom("CT_small.dcm").read_bytes()
  (root / "normal" / "truncated.dcm").write_bytes(data[:-5000])
  (root / "anomalous" / "readme.txt").write_text("not an image")
  (root / "normal" / "plan.dcm").write_bytes(bundled_dicom("rtplan.dcm").read_bytes())


def test_bad_files_are_skipped_with_reasons_and_good_ones_loaded(tmp_path, write_ct, bundled_dicom):
  _make_mixed_folder(tmp_path / "data", write_ct, bundled_dicom)
  dataset = load_ct_dataset(tmp_path / "data", cache_dir=tmp_path / "cache", progress=False)
  report = dataset.report.to_dict()
  json.dumps(report)  # The report is the JSON contract of inspect_data.py.
  assert report["loaded"] == 6 and report["classes"] == {"anomalous": 3, "normal": 3}
  reasons = {item["path"]: item["reason"] for item in report["skipped"]}
  assert set(reasons) == {"normal/truncated.dcm", "anomalous/readme.txt", "normal/plan.dcm"}
  assert "truncated" in reasons["normal/truncated.dcm"]
  assert "not a DICOM" in reasons["anomalous/readme.txt"]
  assert "no pixel data" in reasons["normal/plan.dcm"]
  assert report["patients"] == 6


def test_strict_mode_stops_at_an_unusable_file(tmp_path, write_ct, bundled_dicom):
  _make_mixed_folder(tmp_path / "data", write_ct, bundled_dicom)
  with pytest.raises(DatasetLayoutError, match=r"strict mode; 3 file\(s\) unusable"):
    load_ct_dataset(tmp_path / "data", cache_dir=tmp_path / "cache", strict=True, progress=False)


def test_labels_images_and_hu_survive_the_pipeline(tmp_path, write_ct):
  write_ct(tmp_path / "data" / "normal" / "n.dcm", "N", hu_offset=0)
  write_ct(tmp_path / "data" / "anomalous" / "a.dcm", "A", hu_offset=300)
  dataset = load_ct_dataset(tmp_path / "data", cache_dir=tmp_path / "c", progress=False,
                            settings=PreprocessSettings(hu_windows=((-1000.0, 2000.0),), image_size=32))
  images = dataset.images()
  assert images.shape == (2, 32, 32, 1) and images.dtype == np.float32
  by_label = {int(label): image for label, image in zip(dataset.labels, images)}
  anomalous, normal = by_label[dataset.anomalous_index], by_label[1 - dataset.anomalous_index]
  inside = normal > -700  # Away from the window floor, the +300 HU offset survives the resize.
  np.testing.assert_allclose((anomalous - normal)[inside].mean(), 300.0, atol=15.0)


def test_second_load_reads_the_cache_and_settings_change_misses_it(tmp_path, write_ct, monkeypatch):
  for i in range(2):
    write_ct(tmp_path / "data" / "normal" / f"n{i}.dcm", f"N{i}")
    write_ct(tmp_path / "data" / "anomalous" / f"a{i}.dcm", f"A{i}", hu_offset=200)
  first = load_ct_dataset(tmp_path / "data", cache_dir=tmp_path / "c", progress=False)
  assert (first.report.decoded_files, first.report.cached_files) == (4, 0)

  import gancbam_jax.data.loader as loader
  def refuse(*args, **kwargs):
    raise AssertionError("read although cached and unchanged")
  monkeypatch.setattr(loader, "_prepare_file", refuse)
  second = load_ct_dataset(tmp_path / "data", cache_dir=tmp_path / "c", progress=False)
  assert (second.report.decoded_files, second.report.cached_files) == (0, 4)
  np.testing.assert_array_equal(first.images(), second.images())
  monkeypatch.undo()

  resized = load_ct_dataset(tmp_path / "data", cache_dir=tmp_path / "c", progress=False,
                            settings=PreprocessSettings(image_size=32))
  assert resized.report.decoded_files == 4 and resized.images().shape[1] == 32


def test_parallel_decoding_equals_serial(tmp_path, write_ct, monkeypatch):
  import gancbam_jax.data.loader as loader
  pool_runs = []
  def counted(paths, *args):
    pool_runs.append(len(paths))
    return real_pool(paths, *args)
  real_pool = loader._prepare_in_workers
  monkeypatch.setattr(loader, "_prepare_in_workers", counted)
  monkeypatch.setattr(loader, "_POOL_STARTUP_S", 0.0)  # Use workers even for a small, fast dataset.
  monkeypatch.setattr(loader, "_PROBE_FILES", 3)
  for i in range(6):
    write_ct(tmp_path / "data" / "normal" / f"n{i}.dcm", f"N{i}", hu_offset=i)
    write_ct(tmp_path / "data" / "anomalous" / f"a{i}.dcm", f"A{i}", hu_offset=200 + i)
  (tmp_path / "data" / "normal" / "broken.dcm").write_text("not DICOM")
  serial = load_ct_dataset(tmp_path / "data", cache_dir=tmp_path / "c1", num_workers=1, progress=False)
  assert not pool_runs
  parallel = load_ct_dataset(tmp_path / "data", cache_dir=tmp_path / "c2", num_workers=2, progress=False)
  assert pool_runs == [13 - 3]
  assert [r.rel_path for r in serial.records] == [r.rel_path for r in parallel.records]
  assert serial.report.skipped == parallel.report.skipped and len(parallel.report.skipped) == 1
  np.testing.assert_array_equal(serial.images(), parallel.images())


def test_a_changed_file_is_decoded_again_never_served_stale(tmp_path, write_ct):
  path = write_ct(tmp_path / "data" / "normal" / "n.dcm", "N")
  write_ct(tmp_path / "data" / "anomalous" / "a.dcm", "A")
  before = load_ct_dataset(tmp_path / "data", cache_dir=tmp_path / "c", progress=False)
  write_ct(path, "N", hu_offset=400)  # Same path, same size, new content.
  after = load_ct_dataset(tmp_path / "data", cache_dir=tmp_path / "c", progress=False)
  assert (after.report.decoded_files, after.report.cached_files) == (1, 1)
  changed = [i for i, r in enumerate(after.records) if r.rel_path == "normal/n.dcm"]
  assert after.images(changed).mean() > before.images(changed).mean() + 100.0


def test_multiframe_files_give_one_record_per_frame(tmp_path, write_ct):
  write_ct(tmp_path / "data" / "normal" / "multi.dcm", "N", frames=3)
  write_ct(tmp_path / "data" / "anomalous" / "a.dcm", "A")
  dataset = load_ct_dataset(tmp_path / "data", cache_dir=tmp_path / "c", progress=False)
  assert [(r.rel_path, r.frame) for r in dataset.records if r.rel_path.startswith("normal")] == [
      ("normal/multi.dcm", 0), ("normal/multi.dcm", 1), ("normal/multi.dcm", 2)]
  refusing = load_ct_dataset(tmp_path / "data", cache_dir=tmp_path / "c", progress=False, require_every_class=False,
                             settings=PreprocessSettings(multiframe="error"))
  assert "multi-frame" in refusing.report.skipped[0]["reason"]


def test_an_empty_class_is_an_error_naming_it(tmp_path, write_ct):
  write_ct(tmp_path / "data" / "normal" / "n.dcm", "N")
  (tmp_path / "data" / "anomalous").mkdir()
  (tmp_path / "data" / "anomalous" / "broken.dcm").write_text("nope")
  with pytest.raises(DatasetLayoutError, match=r"class\(es\) \['anomalous'\] have no usable slices"):
    load_ct_dataset(tmp_path / "data", cache_dir=tmp_path / "c", progress=False)


def test_files_without_patient_id_are_their_own_group_and_counted(tmp_path, write_ct):
  write_ct(tmp_path / "data" / "normal" / "n.dcm", None)
  write_ct(tmp_path / "data" / "anomalous" / "a.dcm", "A")
  dataset = load_ct_dataset(tmp_path / "data", cache_dir=tmp_path / "c", progress=False)
  assert dataset.report.files_without_patient_id == 1
  assert sorted(dataset.patient_ids) == ["A", "file:normal/n.dcm"]


def test_streaming_batches_equal_the_whole_array(tmp_path, write_ct):
  for i in range(5):
    write_ct(tmp_path / "data" / "normal" / f"n{i}.dcm", f"N{i}", hu_offset=i * 20)
    write_ct(tmp_path / "data" / "anomalous" / f"a{i}.dcm", f"A{i}", hu_offset=300)
  dataset = load_ct_dataset(tmp_path / "data", cache_dir=tmp_path / "c", progress=False)
  order = np.random.default_rng(0).permutation(len(dataset))
  batches = list(dataset.iter_batches(order, batch_size=3))
  assert [len(b[0]) for b in batches] == [3, 3, 3, 1]
  np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), dataset.images(order))
  np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), dataset.labels[order])


def test_siim_sample_loads_every_slice_with_its_label(siim_root, tmp_path):
  dataset = load_ct_dataset(siim_root, cache_dir=tmp_path / "c", progress=False)
  assert dataset.report.loaded == 12 and not dataset.report.skipped
  assert dataset.report.classes == {"normal": 6, "anomalous": 6}
  for record in dataset.records:
    assert record.label == int("CONTRAST_1" in record.rel_path)
  images = dataset.images()
  assert images.min() == -200.0 and images.max() <= 1000.0
