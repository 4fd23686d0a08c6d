"""Write the built-in synthetic chest CT dataset: DICOM files plus overview.csv in the Kaggle layout.

  python launch/make_dataset.py --out DIR [--n 120] [--seed 0] [--preset easy|medium|hard]

DIR gets overview.csv and dicom_dir/*.dcm. A previous phantom dataset in DIR is replaced; any
other non-empty DIR is refused, so nothing else is ever deleted. The same flags write the same
bytes.
"""

import csv
import os
import sys
import time

from absl import app, flags

from gancbam_jax.data import phantom
from gancbam_jax.data.phantom.dicom_writer import OutputDirError

_OUT = flags.DEFINE_string("out", None, "Directory to write the dataset into.", required=True)
_N = flags.DEFINE_integer("n", 120, "Number of slices.", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Random seed; the dataset is a function of it.", lower_bound=0)
_PRESET = flags.DEFINE_enum("preset", "medium", sorted(phantom.PRESETS), "Difficulty of the anomalies.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  out = os.path.abspath(_OUT.value)
  start = time.perf_counter()
  try:
    overview = phantom.write_dataset(out, _N.value, _SEED.value, _PRESET.value)
  except OutputDirError as e:
    sys.exit(f"error: {e}")
  seconds = time.perf_counter() - start
  with open(overview, newline="") as f:
    rows = list(csv.DictReader(f))
  patients = len({row["PatientID"] for row in rows})
  anomalous = sum(row["Anomaly"] == "True" for row in rows)
  print(f"wrote {len(rows)} slices of {patients} patients ({anomalous} anomalous, preset {_PRESET.value}, "
        f"seed {_SEED.value}) to {out} in {seconds:.1f} s")


if __name__ == "__main__":
  app.run(main)
