"""manifest.json: written with every file's SHA-256, and an export that does not match it is refused by name."""

import json

import pytest

from gancbam_jax.export.manifest import (
    EXPORT_FILES,
    FORMAT_VERSION,
    MANIFEST_FILE,
    MODEL_FILE,
    VARIABLES_FILE,
    ExportError,
    read_manifest,
    write_manifest,
)

DESCRIPTION = {"method": "classifier", "input": {"shape": [None, 64, 64, 1]}, "preprocess": {}, "normalization": {},
               "threshold": 0.5, "labels": {"flagged": "anomalous", "not_flagged": "normal"}}


@pytest.fixture
def export_dir(tmp_path):
  (tmp_path / MODEL_FILE).write_bytes(b"serialised function")
  (tmp_path / VARIABLES_FILE).write_bytes(b"weights")
  write_manifest(tmp_path, DESCRIPTION)
  return tmp_path


def _rewrite_manifest(directory, **changes):
  manifest = json.loads((directory / MANIFEST_FILE).read_text())
  manifest.update(changes)
  (directory / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_a_written_manifest_reads_back_with_each_files_hash(export_dir):
  manifest = read_manifest(export_dir)
  assert {k: manifest[k] for k in DESCRIPTION} == DESCRIPTION
  assert set(manifest["files"]) == set(EXPORT_FILES)
  assert manifest["files"][VARIABLES_FILE]["bytes"] == len(b"weights")


@pytest.mark.parametrize("name", EXPORT_FILES)
def test_a_modified_file_is_refused_by_name(export_dir, name):
  with (export_dir / name).open("ab") as f:
    f.write(b"!")
  with pytest.raises(ExportError, match=f"{name} does not match the SHA-256"):
    read_manifest(export_dir)


def test_a_tampered_hash_in_the_manifest_is_refused(export_dir):
  manifest = json.loads((export_dir / MANIFEST_FILE).read_text())
  manifest["files"][MODEL_FILE]["sha256"] = "0" * 64
  (export_dir / MANIFEST_FILE).write_text(json.dumps(manifest))
  with pytest.raises(ExportError, match=MODEL_FILE):
    read_manifest(export_dir)


def test_a_missing_file_is_refused_by_name(export_dir):
  (export_dir / VARIABLES_FILE).unlink()
  with pytest.raises(ExportError, match=f"{VARIABLES_FILE} is missing"):
    read_manifest(export_dir)


def test_a_directory_without_a_manifest_is_not_an_export(tmp_path):
  with pytest.raises(ExportError, match="not an export directory"):
    read_manifest(tmp_path)


@pytest.mark.parametrize("changes, message", [
    ({"format": "something-else"}, "not a gancbam-jax-export manifest"),
    ({"format_version": FORMAT_VERSION + 1}, "format version"),
])
def test_a_manifest_of_another_format_or_version_is_refused(export_dir, changes, message):
  _rewrite_manifest(export_dir, **changes)
  with pytest.raises(ExportError, match=message):
    read_manifest(export_dir)


def test_a_manifest_missing_fields_names_them(export_dir):
  manifest = json.loads((export_dir / MANIFEST_FILE).read_text())
  del manifest["threshold"], manifest["labels"]
  (export_dir / MANIFEST_FILE).write_text(json.dumps(manifest))
  with pytest.raises(ExportError, match=r"lacks the fields \['threshold', 'labels'\]"):
    read_manifest(export_dir)


def test_a_manifest_that_is_not_json_is_refused(export_dir):
  (export_dir / MANIFEST_FILE).write_text("{not json")
  with pytest.raises(ExportError, match="not valid JSON"):
    read_manifest(export_dir)
