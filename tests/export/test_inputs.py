"""What launch/detect.py reads: a file, a directory tree, or a CSV of paths relative to itself."""

import pytest

from gancbam_jax.export.inputs import InputError, list_inputs


def _touch(path):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(b"x")
  return path


def test_a_directory_lists_every_file_recursively_with_relative_names(tmp_path):
  for name in ("b.dcm", "a/2", "a/1.dcm", "notes.txt"):
    _touch(tmp_path / name)
  listed = list_inputs(tmp_path)
  assert [f.name for f in listed] == ["a/1.dcm", "a/2", "b.dcm", "notes.txt"]
  assert all(f.path == tmp_path / f.name for f in listed)


def test_a_single_file_is_named_by_its_file_name(tmp_path):
  path = _touch(tmp_path / "scan" / "slice.dcm")
  listed = list_inputs(path)
  assert [(f.path, f.name) for f in listed] == [(path, "slice.dcm")]


def test_a_csv_lists_paths_relative_to_itself_in_its_order(tmp_path):
  _touch(tmp_path / "data" / "x.dcm")
  table = tmp_path / "lists" / "todo.csv"
  table.parent.mkdir()
  table.write_text("path,note\n../data/x.dcm,first\n../data/missing.dcm,second\n")
  listed = list_inputs(table)
  assert [f.name for f in listed] == ["../data/x.dcm", "../data/missing.dcm"]
  assert listed[0].path == tmp_path / "data" / "x.dcm"
  assert listed[1].path == tmp_path / "data" / "missing.dcm"  # listed: detection reports it as not found


def test_a_csv_without_a_path_column_is_refused_naming_its_columns(tmp_path):
  table = tmp_path / "todo.csv"
  table.write_text("file,note\nx.dcm,first\n")
  with pytest.raises(InputError, match=r"todo.csv has no 'path' column \(columns: \['file', 'note'\]\)"):
    list_inputs(table)


def test_a_csv_row_without_a_path_is_refused_naming_its_line(tmp_path):
  table = tmp_path / "todo.csv"
  table.write_text("path\nx.dcm\n\n ,\n")
  with pytest.raises(InputError, match="line 4: empty 'path'"):
    list_inputs(table)


def test_a_missing_input_is_refused(tmp_path):
  with pytest.raises(InputError, match="does not exist"):
    list_inputs(tmp_path / "nowhere")


def test_an_empty_directory_is_refused(tmp_path):
  (tmp_path / "empty" / "nested").mkdir(parents=True)
  with pytest.raises(InputError, match="holds no files"):
    list_inputs(tmp_path / "empty")
