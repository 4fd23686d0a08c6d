"""Dataset layouts: Kaggle table, generic CSV, class folders, and refusal of escaping paths."""

import pytest

from gancbam_jax.data.layouts import DatasetLayoutError, LayoutSpec, list_labelled_files, resolve_inside


def _write_table(path, header, rows):
  path.write_text("\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n")


@pytest.mark.parametrize("listed", ["../outside.dcm", "a/../../outside.dcm", "/etc/passwd", "C:\\data\\x.dcm",
                                    "..\\outside.dcm"])
def test_paths_leaving_the_root_are_refused(tmp_path, listed):
  with pytest.raises(DatasetLayoutError, match="labels.csv row 2"):
    resolve_inside(tmp_path, listed, "labels.csv row 2")


def test_csv_escape_is_refused_with_file_and_row(tmp_path):
  (tmp_path / "outside.dcm").write_bytes(b"x")
  root = tmp_path / "data"
  root.mkdir()
  _write_table(root / "labels.csv", ["path", "label"], [["a.dcm", "1"], ["../outside.dcm", "0"]])
  (root / "a.dcm").write_bytes(b"x")
  with pytest.raises(DatasetLayoutError, match=r"labels.csv row 3: path '../outside.dcm' leaves"):
    list_labelled_files(root, LayoutSpec("csv", table="labels.csv", label_column="label", anomalous_value="1"))


def test_kaggle_layout_labels_from_the_configured_column(siim_root):
  listing = list_labelled_files(siim_root)
  assert listing.class_names == ("normal", "anomalous")
  labels = {f.rel_path.split("/")[-1]: f.label for f in listing.files}
  assert len(labels) == 12 and not listing.unusable
  assert all(label == int("CONTRAST_1" in name) for name, label in labels.items())


def test_missing_column_names_the_column_and_lists_columns(tmp_path):
  _write_table(tmp_path / "labels.csv", ["path", "diagnosis"], [["a.dcm", "x"]])
  with pytest.raises(DatasetLayoutError, match=r"no column 'label' \(data.label_column\); its columns are \['path', 'diagnosis'\]"):
    list_labelled_files(tmp_path, LayoutSpec("csv", table="labels.csv", label_column="label"))


def test_anomalous_value_absent_is_an_error_listing_values(tmp_path):
  _write_table(tmp_path / "labels.csv", ["path", "label"], [["a.dcm", "no"], ["b.dcm", "maybe"]])
  with pytest.raises(DatasetLayoutError, match=r"no row has label == 'yes'.*\['maybe', 'no'\]"):
    list_labelled_files(tmp_path, LayoutSpec("csv", table="labels.csv", label_column="label", anomalous_value="yes"))


def test_missing_and_unlisted_files_are_reported_not_dropped(tmp_path):
  (tmp_path / "dicom_dir").mkdir()
  for name in ("a.dcm", "extra.dcm"):
    (tmp_path / "dicom_dir" / name).write_bytes(b"x")
  _write_table(tmp_path / "overview.csv", ["dicom_name", "Contrast"], [["a.dcm", "True"], ["gone.dcm", "False"]])
  listing = list_labelled_files(tmp_path)
  assert [f.rel_path for f in listing.files] == ["dicom_dir/a.dcm"]
  reasons = dict(listing.unusable)
  assert "does not exist" in reasons["dicom_dir/gone.dcm"]
  assert "not listed in overview.csv" in reasons["dicom_dir/extra.dcm"]


def test_class_folders_are_classes(tmp_path):
  for rel in ("anomalous/p1/x.dcm", "healthy/y.dcm", "healthy/z.dcm"):
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_bytes(b"x")
  listing = list_labelled_files(tmp_path)
  assert listing.class_names == ("anomalous", "healthy")
  assert sorted((f.rel_path, f.label) for f in listing.files) == [
      ("anomalous/p1/x.dcm", 0), ("healthy/y.dcm", 1), ("healthy/z.dcm", 1)]
  with pytest.raises(DatasetLayoutError, match="no folder named 'tumour'"):
    list_labelled_files(tmp_path, LayoutSpec("folders", anomalous_class="tumour"))


def test_missing_root_says_what_to_set(tmp_path):
  with pytest.raises(DatasetLayoutError, match="set data.root"):
    list_labelled_files(tmp_path / "nowhere")
