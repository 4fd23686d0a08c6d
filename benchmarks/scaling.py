"""Data-parallel scaling of the training steps: images/s on 1..N devices at a fixed per-device batch.

  python benchmarks/scaling.py --json scaling.json [--per-device-batch 16] [--devices 1 2 4 8]
                               [--cpu-devices 8] [--steps autoencoder bagan classifier] [--quick]

Each step is jitted over a mesh of the first k devices exactly as training jits it (batch split
over 'data', parameters replicated, gradients all-reduced by XLA) with a global batch of
k x per-device batch. Scaling efficiency = images/s on k devices / (k x images/s on 1 device).
On a machine without accelerators the k devices are simulated CPU devices
(--xla_force_host_platform_device_count) that share the same cores: there the ideal is flat
images/s (efficiency 1/k), and the figures show what sharding and the all-reduce cost. On GPUs
the devices are real. Work split = FLOPs per device on 1 device / on k devices (XLA's cost analysis
of the partitioned step, at the same per-device batch): 1.0 when each device computes only its
share of the batch, below when some of it is replicated. It does not depend on the host, so it
shows on simulated devices what their shared cores cannot show in images/s.
--quick: per-device batch 8, 1 and 2 devices, the autoencoder step only.
"""

import argparse
import os
import sys


def parse_args() -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--json", help="write the figures to this file as one JSON object")
  parser.add_argument("--per-device-batch", type=int, default=16)
  parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8],
                      help="device counts to time; counts above the devices present are skipped")
  parser.add_argument("--cpu-devices", type=int, default=8, help="CPU devices to simulate where there is no accelerator")
  parser.add_argument("--image-size", type=int, default=64)
  parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
  parser.add_argument("--steps", nargs="+", default=["autoencoder", "bagan", "classifier"])
  parser.add_argument("--min-seconds", type=float, default=2.0)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--quick", action="store_true", help="per-device batch 8, 1 and 2 devices, autoencoder only")
  args = parser.parse_args()
  if args.quick:
    args.per_device_batch, args.devices, args.steps, args.min_seconds, args.repeats = 8, [1, 2], ["autoencoder"], 0.5, 1
  return args


def main() -> None:
  args = parse_args()
  # Before JAX starts: the CPU platform then offers this many devices (ignored where GPUs are used).
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                             f" --xla_force_host_platform_device_count={args.cpu_devices}").strip()
  import jax

  from devices import environment, write_report
  from gancbam_jax.train import parallel
  from jax_steps import STEP_NAMES, time_training_step, training_steps

  unknown = set(args.steps) - set(STEP_NAMES)
  if unknown:
    sys.exit(f"unknown --steps {sorted(unknown)}; expected some of {STEP_NAMES}")
  counts = [k for k in args.devices if k <= jax.device_count()]
  skipped = sorted(set(args.devices) - set(counts))
  if skipped:
    print(f"skipping device counts {skipped}: only {jax.device_count()} devices", flush=True)
  simulated = jax.devices()[0].platform == "cpu"
  rows, one_device, one_device_flops = [], {}, {}
  print(f"{'step':12s} {'devices':>7s} {'batch':>5s} {'images/s':>9s} {'efficiency':>10s} {'work split':>10s}",
        flush=True)
  for k in counts:
    mesh = parallel.data_mesh(k)
    batch = k * args.per_device_batch
    for step in training_steps("cbam", args.image_size, batch, args.dtype, mesh, tuple(args.steps)):
      timing = time_training_step(step, args.min_seconds, args.repeats)
      images_per_s = step.images_per_step / timing.seconds_per_step
      if k == 1:
        one_device[step.name], one_device_flops[step.name] = images_per_s, timing.flops_per_step
      base, base_flops = one_device.get(step.name), one_device_flops.get(step.name)
      row = {"step": step.name, "devices": k, "global_batch": batch, "images_per_s": images_per_s,
             "ms_per_step": timing.seconds_per_step * 1e3, "compile_s": timing.compile_s,
             "scaling_efficiency": images_per_s / (k * base) if base else None,
             "throughput_vs_one_device": images_per_s / base if base else None,
             "flops_per_device": timing.flops_per_step,
             "work_split": base_flops / timing.flops_per_step if base_flops and timing.flops_per_step else None}
      rows.append(row)
      efficiency = f"{row['scaling_efficiency']:10.1%}" if base else f"{'-':>10s}"
      split = f"{row['work_split']:10.1%}" if row["work_split"] else f"{'-':>10s}"
      print(f"{step.name:12s} {k:7d} {batch:5d} {images_per_s:9.1f} {efficiency} {split}", flush=True)
  report = {"benchmark": "data-parallel scaling at a fixed per-device batch", **environment(),
            "simulated_cpu_devices": simulated, "per_device_batch": args.per_device_batch,
            "image_size": args.image_size, "dtype": args.dtype,
            "note": ("simulated CPU devices share the same cores: flat images/s (efficiency 1/k) is ideal there"
                     if simulated else "real devices: efficiency 1.0 is ideal"),
            "rows": rows}
  write_report(report, args.json)


if __name__ == "__main__":
  main()
