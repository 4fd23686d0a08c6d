"""The export directory's manifest.json: what the model expects and was measured to do, and its files' hashes.

An export directory holds three files. `model.jaxexport` is the serialised function from a
normalised image batch to (scores, heatmaps). `variables.msgpack` holds the same weights for
Flax users. `manifest.json` describes both and records the SHA-256 of each; it is written last,
so a directory with a manifest is a complete export. Reading an export checks every hash first:
a modified or truncated file is refused by name rather than scored with.
"""

from __future__ import annotations

import hashlib
import json
import pathlib

MODEL_FILE = "model.jaxexport"
VARIABLES_FILE = "variables.msgpack"
MANIFEST_FILE = "manifest.json"
EXPORT_FILES = (MODEL_FILE, VARIABLES_FILE)
FORMAT = "gancbam-jax-export"
FORMAT_VERSION = 1
# What inference reads; the other entries (metrics, versions, model config) document the export.
REQUIRED_KEYS = ("format", "format_version", "method", "input", "preprocess", "normalization", "threshold", "labels",
                 "files")


class ExportError(ValueError):
  """An export directory that cannot be written or trusted; the message names the file and the fix."""


def sha256_of(path: pathlib.Path) -> str:
  digest = hashlib.sha256()
  with path.open("rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def write_manifest(directory: pathlib.Path, manifest: dict) -> dict:
  """Writes manifest.json with `manifest` plus the format and the SHA-256 of every export file; returns it."""
  files = {name: {"sha256": sha256_of(directory / name), "bytes": (directory / name).stat().st_size}
           for name in EXPORT_FILES}
  complete = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest, "files": files}
  (directory / MANIFEST_FILE).write_text(json.dumps(complete, indent=2) + "\n")
  return complete


def read_manifest(directory: str | pathlib.Path) -> dict:
  """The manifest of an export directory, after checking its format and every file's SHA-256.

  Raises:
    ExportError: no manifest, not this format, a missing field, or a file missing or not matching its hash.
  """
  directory = pathlib.Path(directory)
  path = directory / MANIFEST_FILE
  if not path.is_file():
    raise ExportError(f"{path} does not exist: {directory} is not an export directory (launch/export.py writes one)")
  try:
    manifest = json.loads(path.read_text())
  except json.JSONDecodeError as e:
    raise ExportError(f"{path} is not valid JSON ({e}); export the run again with launch/export.py") from e
  if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
    raise ExportError(f"{path} is not a {FORMAT} manifest")
  if manifest.get("format_version") != FORMAT_VERSION:
    raise ExportError(f"{path} has format version {manifest.get('format_version')}; this version of gancbam-jax "
                      f"reads version {FORMAT_VERSION}: export the run again with this version")
  missing = [key for key in REQUIRED_KEYS if key not in manifest]
  if missing:
    raise ExportError(f"{path} lacks the fields {missing}; export the run again with launch/export.py")
  for name in EXPORT_FILES:
    expected = manifest["files"].get(name, {}).get("sha256")
    file = directory / name
    if not file.is_file():
      raise ExportError(f"{file} is missing; an export needs {list(EXPORT_FILES)} beside {MANIFEST_FILE}")
    found = sha256_of(file)
    if found != expected:
      raise ExportError(f"{file} does not match the SHA-256 recorded in {MANIFEST_FILE} (recorded {expected}, "
                        f"found {found}): the file was modified or corrupted after export; export the run again")
  return manifest
