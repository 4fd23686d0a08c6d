"""Measures how hard each phantom preset is: anomaly contrast-to-noise and the oracle ROC-AUC.

  python benchmarks/phantom_difficulty.py --json difficulty.json [--presets easy medium hard]
      [--image-size 64] [--n-train 2000] [--n-test 1000] [--steps 1500] [--cnr-slices 200]

Both are measured at the default config's HU windows and the given image size
(gancbam_jax/data/phantom/difficulty.py and oracle.py say how). Per preset it prints the median
and 10th-percentile contrast-to-noise ratio of each anomaly type, then the oracle's test
ROC-AUC overall, for lesions and artefacts apart, and per type.
"""

import argparse
import dataclasses
import datetime
import json
import time

from configs import default
from gancbam_jax.data.phantom import PRESETS, difficulty, oracle
from gancbam_jax.data.source import preprocess_settings
from gancbam_jax.detect.timing import device_name


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
  parser.add_argument("--image-size", type=int, default=default.get_config().data.image_size)
  parser.add_argument("--n-train", type=int, default=2000)
  parser.add_argument("--n-test", type=int, default=1000)
  parser.add_argument("--steps", type=int, default=1500)
  parser.add_argument("--cnr-slices", type=int, default=200, help="anomalous slices whose CNR is measured")
  parser.add_argument("--json", help="write the figures to this file as one JSON object")
  args = parser.parse_args()

  data = default.get_config().data
  data.image_size = args.image_size
  settings = preprocess_settings(data)
  report = {"benchmark": "phantom difficulty (anomaly CNR, oracle ROC-AUC)", "device": device_name(),
            "date": datetime.date.today().isoformat(), "preprocess": settings.to_dict(), "presets": {}}
  for preset in args.presets:
    started = time.perf_counter()
    cnr = difficulty.summarise(difficulty.anomaly_visibility(args.cnr_slices, 0, preset, settings))
    result = oracle.oracle_roc_auc(preset, settings, args.n_train, args.n_test, args.steps)
    report["presets"][preset] = {"cnr": cnr, "oracle": dataclasses.asdict(result),
                                 "seconds": time.perf_counter() - started}
    print(f"{preset}: oracle ROC-AUC {result.roc_auc:.3f} (lesions {result.lesions_roc_auc:.3f}, artefacts "
          f"{result.artefacts_roc_auc:.3f}) in {time.perf_counter() - started:.0f} s", flush=True)
    for kind, figures in cnr.items():
      print(f"  {kind:18s} n {figures['n']:3d}  CNR median {figures['median_cnr']:6.1f}  p10 {figures['p10_cnr']:6.1f}"
            f"  oracle ROC-AUC {result.per_type.get(kind, float('nan')):.3f}", flush=True)
  if args.json:
    with open(args.json, "w") as out:
      json.dump(report, out, indent=2)


if __name__ == "__main__":
  main()
