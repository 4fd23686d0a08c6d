"""Score CT files with an exported detector: scores.csv, optional heatmap PNGs, a summary.

  python launch/detect.py --model runs/default/export --input scans/ --out scores.csv --heatmaps heatmaps/

--input is a CT file (DICOM, PNG/JPEG/TIFF image or NIfTI volume), a directory (searched recursively)
or a CSV with a 'path' column. A file that cannot be read, or is of another kind than the model was
trained on, gets a row with its error in the 'error' column; the others are still scored.
"""

import sys

from absl import app, flags

from gancbam_jax import cli
from gancbam_jax.export import ExportedDetector, ExportError, InputError, detect_files, list_inputs

_MODEL = flags.DEFINE_string("model", None, "Export directory written by launch/export.py.", required=True)
_INPUT = flags.DEFINE_string("input", None, "CT file (DICOM, PNG/JPEG/TIFF, NIfTI), a directory of them, or a CSV of paths.", required=True)
_OUT = flags.DEFINE_string("out", None, "CSV to write: one row per slice.", required=True)
_HEATMAPS = flags.DEFINE_string("heatmaps", None, "Directory for one PNG per slice: the slice and its heatmap.")
_BATCH_SIZE = flags.DEFINE_integer("batch-size", 64, "Slices scored per call of the model.", lower_bound=1)


def main(argv):
  cli.begin(argv, "--model, --input, --out, --heatmaps and --batch-size")
  try:
    model = ExportedDetector.load(_MODEL.value)
    inputs = list_inputs(_INPUT.value)
  except (ExportError, InputError) as e:
    sys.exit(f"error: {e}")
  summary = detect_files(model, inputs, _OUT.value, _HEATMAPS.value, _BATCH_SIZE.value)
  print(summary.line(model.manifest["labels"]["flagged"]))
  print(f"wrote {_OUT.value}" + (f" and heatmaps under {_HEATMAPS.value}" if _HEATMAPS.value else ""))


if __name__ == "__main__":
  app.run(main)
