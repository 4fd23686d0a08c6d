"""Deployment: a self-contained exported detector (jax.export + manifest) and inference with it on CT files.

  from gancbam_jax.export.writer import export_run   # needs the training code; launch/export.py
  export_run("runs/default", "export/")

  from gancbam_jax.export import ExportedDetector, detect_files, list_inputs   # needs jax, not the models
  model = ExportedDetector.load("export/")
  detect_files(model, list_inputs("scans/"), "scores.csv", heatmaps_dir="heatmaps/")

This package's namespace loads no model code, so inference runs where only the export is installed.
"""

from gancbam_jax.export.inference import COLUMNS, DetectionSummary, detect_files
from gancbam_jax.export.inputs import InputError, InputFile, list_inputs
from gancbam_jax.export.manifest import ExportError, read_manifest
from gancbam_jax.export.runtime import ExportedDetector

__all__ = ["COLUMNS", "DetectionSummary", "ExportError", "ExportedDetector", "InputError", "InputFile",
           "detect_files", "list_inputs", "read_manifest"]
