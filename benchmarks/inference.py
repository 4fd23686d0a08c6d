"""Times detection: latency at batch 1 and throughput at batch 64 and 256, in-process and from the export.

  python benchmarks/inference.py --json inference.json [--image-size 64] [--variant cbam] [--repeats 50]

The detector is the default classifier (CBAM encoder trunk and a 2-way head) with freshly
initialised weights: speed does not depend on their values, so no training run is needed. It is
timed two ways on the same images:
- in-process: the jitted `outputs(variables, images)` that evaluation times (the Flax modules);
- exported: `ExportedDetector` on the `model.jaxexport` that launch/export.py writes, loaded back
  from disk (scores and heatmaps returned as host arrays).
Per batch size: compile time (first call), then `repeats` calls each timed until the results are
ready. Batch 1 reports p50, p95 and p99 latency; batches 64 and 256 report images/s (median call)
and ms per image.
"""

import argparse
import datetime
import json
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

from gancbam_jax import models
from gancbam_jax.detect.detectors import Detector, TrainedVariables, classifier_outputs
from gancbam_jax.detect.timing import device_name, time_calls
from gancbam_jax.export import ExportedDetector
from gancbam_jax.export.writer import serving_function, write_export

LATENCY_BATCH = 1
THROUGHPUT_BATCHES = (64, 256)


def build_detector(variant: str, image_size: int, latent_dim: int) -> Detector:
  """The classifier detector with freshly initialised weights."""
  autoencoder = models.build_autoencoder(variant, image_size, latent_dim, jnp.float32, models.DEFAULT_UPSAMPLE)
  classifier = models.build_classifier(autoencoder)
  outputs = classifier_outputs(classifier, 1)
  return Detector("classifier", jax.jit(outputs), models.init_variables(classifier, jax.random.key(0)),
                  "attention", {}, {}, TrainedVariables("classifier"), "a freshly initialised classifier")


def time_batches(detect, image_size: int, repeats: int) -> dict:
  """Latency percentiles at batch 1, and images/s and ms per image at each throughput batch."""
  rng = np.random.default_rng(0)
  figures = {}
  for batch in (LATENCY_BATCH, *THROUGHPUT_BATCHES):
    images = rng.uniform(size=(batch, image_size, image_size, 1)).astype(np.float32)
    compile_s, per_call = time_calls(detect, images, repeats)
    figures[f"compile_s_batch{batch}"] = compile_s
    if batch == LATENCY_BATCH:
      for q in (50, 95, 99):
        figures[f"latency_ms_p{q}_batch{batch}"] = float(np.percentile(per_call * 1e3, q))
    else:
      figures[f"images_per_s_batch{batch}"] = float(batch / np.median(per_call))
      figures[f"ms_per_image_p50_batch{batch}"] = float(np.median(per_call) * 1e3 / batch)
  return figures


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--image-size", type=int, default=64, choices=models.IMAGE_SIZES)
  parser.add_argument("--variant", default="cbam", choices=models.VARIANTS)
  parser.add_argument("--latent-dim", type=int, default=models.DEFAULT_LATENT_DIM)
  parser.add_argument("--repeats", type=int, default=50)
  parser.add_argument("--json", help="write the figures to this file as one JSON object")
  args = parser.parse_args()

  detector = build_detector(args.variant, args.image_size, args.latent_dim)
  with tempfile.TemporaryDirectory() as export_dir:
    manifest = write_export(export_dir, serving_function(detector, args.image_size), detector.variables,
                            (args.image_size, args.image_size, 1),
                            {"method": "classifier", "preprocess": {}, "normalization": {}, "threshold": 0.5,
                             "labels": {"flagged": "anomalous", "not_flagged": "normal"}})
    exported = ExportedDetector.load(export_dir)
    report = {
        "benchmark": "detection (classifier scores and attention maps), in-process vs exported",
        "device": device_name(), "date": datetime.date.today().isoformat(), "jax_version": jax.__version__,
        "model": {"variant": args.variant, "image_size": args.image_size, "latent_dim": args.latent_dim,
                  "parameters": models.count_params(detector.variables)},
        "export_bytes": manifest["files"]["model.jaxexport"]["bytes"], "repeats": args.repeats,
        "in_process": time_batches(detector, args.image_size, args.repeats),
        "exported": time_batches(exported, args.image_size, args.repeats),
    }
  for way in ("in_process", "exported"):
    f = report[way]
    print(f"{way:10s} batch 1: p50 {f['latency_ms_p50_batch1']:.2f} ms, p95 {f['latency_ms_p95_batch1']:.2f} ms, "
          f"p99 {f['latency_ms_p99_batch1']:.2f} ms | "
          + " | ".join(f"batch {b}: {f[f'images_per_s_batch{b}']:.0f} images/s" for b in THROUGHPUT_BATCHES), flush=True)
  if args.json:
    with open(args.json, "w") as out:
      json.dump(report, out, indent=2)


if __name__ == "__main__":
  main()
