"""Print and write the load report of a CT dataset, plus a PNG grid of sample slices per class.

A dataset is DICOM files, PNG/JPEG/TIFF images (with data.image_rescale) or NIfTI volumes, in the
kaggle, csv or folders layout.

  python launch/inspect_data.py --root DIR [--json FILE] [--grid FILE.png]
  python launch/inspect_data.py --config configs/siim_ct.py --config.data.root=DIR

The report is {"loaded", "skipped": [{"path", "reason"}], "classes", ...}: every file that
could not be used is listed with its reason.
"""

import json
import pathlib
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from gancbam_jax import plotting
from gancbam_jax.data import DatasetLayoutError, MinMaxStats, load_from_config
from gancbam_jax.data.readers import describe_inputs

_DEFAULT_CONFIG = pathlib.Path(__file__).resolve().parents[1] / "configs" / "default.py"
_CONFIG = config_flags.DEFINE_config_file("config", str(_DEFAULT_CONFIG), "Config file; its `data` section is used.")
_ROOT = flags.DEFINE_string("root", None, "Dataset directory (kaggle, csv or folders layout); overrides the "
                            "config's data source.")
_JSON = flags.DEFINE_string("json", None, "Write the load report here as JSON.")
_GRID = flags.DEFINE_string("grid", None, "Sample grid PNG; default: next to --json, else ./<dataset>_samples.png.")
_PER_CLASS = flags.DEFINE_integer("per_class", 8, "Sample slices shown per class.")


def main(argv):
  del argv
  data = _CONFIG.value.data
  if _ROOT.value:
    data.source, data.root = "directory", _ROOT.value
  try:
    dataset = load_from_config(data, require_every_class=False)
  except DatasetLayoutError as e:
    sys.exit(f"error: {e}")
  report = dataset.report.to_dict()
  print(json.dumps(report, indent=2))
  print(f"files read: {describe_inputs(report['inputs'], dataset.settings)}", file=sys.stderr)
  if _JSON.value:
    json_path = pathlib.Path(_JSON.value).expanduser().resolve()
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    logging.info("load report written to %s", json_path)
  if report["unexpected_errors"]:
    logging.warning("%d file(s) failed with an unexpected error rather than a reason (see 'skipped'): please "
                    "report them", report["unexpected_errors"])
  for name, count in report["classes"].items():
    if count == 0:
      logging.warning("class %r has no usable slices: training would refuse this dataset", name)

  grid = _GRID.value or (str(pathlib.Path(_JSON.value).with_suffix(".png")) if _JSON.value
                         else f"{pathlib.Path(dataset.root).name}_samples.png")
  labels = dataset.labels
  # Each channel shown over its own HU window.
  to_unit = MinMaxStats.of_windows(data.hu_windows)
  samples = {name: to_unit.apply(dataset.images((labels == i).nonzero()[0][:_PER_CLASS.value]))
             for i, name in enumerate(dataset.class_names)}
  grid_path = pathlib.Path(grid).expanduser().resolve()
  grid_path.parent.mkdir(parents=True, exist_ok=True)
  windows = ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in data.hu_windows)
  plotting.save_class_grid(samples, grid_path, title=f"{dataset.root} (HU windows {windows}, left to right)",
                           per_class=_PER_CLASS.value, value_range=(0.0, 1.0))
  print(f"sample grid: {grid_path}", file=sys.stderr)


if __name__ == "__main__":
  app.run(main)
