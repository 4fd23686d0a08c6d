"""Training throughput of the pipeline's three steps: images/s, compile time, achieved FLOP/s and share of peak.

  python benchmarks/train_step.py --json train_step.json [--sizes 64 128] [--batches 16 32 64 128 256 512]
                                  [--dtypes float32 bfloat16] [--steps autoencoder bagan classifier] [--quick]

For every image size x global batch x compute dtype, each step (autoencoder MSE step, BAGAN's
discriminator-plus-generator step, classifier step; see jax_steps.py) is compiled, warmed up once,
then timed over runs of at least --min-seconds. FLOPs per step are XLA's cost analysis of the
compiled step; achieved FLOP/s divided by the device's peak (devices.py states the peak and its
source) is the share of peak. Data parallel over all local devices, as training runs.
--quick: 64x64, batches 32 and 64, float32, one short run each (about a minute on 2 CPU cores).
"""

import argparse

import jax

from devices import environment, peak_flops, write_report
from gancbam_jax.train import parallel
from gancbam_jax.train.settings import DTYPES
from jax_steps import STEP_NAMES, images_seen, time_training_step, training_steps

BATCHES = (16, 32, 64, 128, 256, 512)


def parse_args() -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--json", help="write the figures to this file as one JSON object")
  parser.add_argument("--variant", default="cbam")
  parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
  parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
  parser.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=list(DTYPES))
  parser.add_argument("--steps", nargs="+", default=list(STEP_NAMES), choices=STEP_NAMES)
  parser.add_argument("--min-seconds", type=float, default=2.0, help="each timed run lasts at least this long")
  parser.add_argument("--repeats", type=int, default=3, help="timed runs per step; the median is reported")
  parser.add_argument("--quick", action="store_true", help="64x64, batches 32 and 64, float32, short runs")
  args = parser.parse_args()
  if args.quick:
    args.sizes, args.batches, args.dtypes, args.min_seconds, args.repeats = [64], [32, 64], ["float32"], 0.5, 1
  return args


def main() -> None:
  args = parse_args()
  mesh = parallel.data_mesh()
  peaks = {dtype: dict(zip(("flop_per_s", "source"), peak_flops(dtype))) for dtype in args.dtypes}
  rows = []
  print(f"{'step':12s} {'size':>4s} {'batch':>5s} {'dtype':9s} {'images/s':>9s} {'ms/step':>9s} {'compile s':>9s} "
        f"{'TFLOP/s':>8s} {'of peak':>7s}", flush=True)
  for image_size in args.sizes:
    for dtype in args.dtypes:
      for batch in args.batches:
        for step in training_steps(args.variant, image_size, batch, dtype, mesh, tuple(args.steps)):
          timing = time_training_step(step, args.min_seconds, args.repeats)
          achieved = timing.flops_per_step / timing.seconds_per_step if timing.flops_per_step else None
          peak = peaks[dtype]["flop_per_s"]
          row = {"step": step.name, "image_size": image_size, "batch_size": batch, "dtype": dtype,
                 "images_per_s": step.images_per_step / timing.seconds_per_step,
                 "ms_per_step": timing.seconds_per_step * 1e3, "compile_s": timing.compile_s,
                 "flops_per_step": timing.flops_per_step, "achieved_flop_per_s": achieved,
                 "share_of_peak": achieved / peak if achieved and peak else None,
                 "steps_timed": timing.steps_timed, "per_step": images_seen(step, batch, mesh.devices.size)}
          rows.append(row)
          shown = f"{achieved / 1e12:8.3f} {row['share_of_peak']:7.1%}" if row["share_of_peak"] else f"{'-':>8s} {'-':>7s}"
          print(f"{step.name:12s} {image_size:4d} {batch:5d} {dtype:9s} {row['images_per_s']:9.1f} "
                f"{row['ms_per_step']:9.1f} {timing.compile_s:9.2f} {shown}", flush=True)
  report = {"benchmark": "training steps (autoencoder, BAGAN D+G, classifier): throughput, compile time, FLOP/s",
            **environment(), "variant": args.variant, "devices_used": jax.device_count(), "peak": peaks,
            "flops_source": "XLA cost analysis of the compiled step (compiled.cost_analysis()['flops'])",
            "rows": rows}
  write_report(report, args.json)


if __name__ == "__main__":
  main()
