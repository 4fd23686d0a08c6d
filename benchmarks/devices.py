"""What a benchmark ran on: the device's name, a short tag for result files, and its assumed peak FLOP/s.

  python benchmarks/devices.py    # prints this machine's tag for benchmarks/results/<tag>.json

Peaks are dense (no sparsity) figures per device. A CPU's is computed from what /proc/cpuinfo
says about this machine; a GPU's is the vendor's datasheet figure for its tensor cores. Both are
the ceilings against which the benchmarks report achieved FLOP/s, so each comes with its source.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re

import jax

from gancbam_jax.detect.timing import device_name
# FLOP per cycle per core for float32: vector lanes x 2 (a fused multiply-add is 2 FLOP) x FMA units.
# Intel documents two 512-bit FMA units per core on Xeon Scalable parts with AVX-512 and two 256-bit
# units on AVX2 parts (Intel 64 and IA-32 Architectures Optimization Reference Manual).
_CPU_FLOP_PER_CYCLE = (("avx512f", 16 * 2 * 2), ("fma", 8 * 2 * 2))
_SSE_FLOP_PER_CYCLE = 4 * 2  # one 128-bit add and one 128-bit multiply per cycle

# (bfloat16, float32) dense tensor-core FLOP/s. JAX computes float32 convolutions and matmuls on
# these GPUs in TF32 by default, so TF32 is float32's ceiling. NVIDIA H100 / H200 datasheets.
_GPU_PEAKS = (
    ("H100 PCIe", 756e12, 378e12, "NVIDIA H100 datasheet, PCIe: 756 TFLOP/s bf16, 378 TFLOP/s TF32, dense"),
    ("H100", 989.4e12, 494.7e12, "NVIDIA H100 datasheet, SXM: 989.4 TFLOP/s bf16, 494.7 TFLOP/s TF32, dense"),
    ("H200", 989.4e12, 494.7e12, "NVIDIA H200 datasheet, SXM: 989.4 TFLOP/s bf16, 494.7 TFLOP/s TF32, dense"),
)


def machine_tag() -> str:
  """A file-name tag for result files: 'cpu-2core', 'nvidia-h100-80gb-hbm3', ..."""
  device = jax.devices()[0]
  if device.platform == "cpu":
    return f"cpu-{len(os.sched_getaffinity(0))}core"
  return re.sub(r"[^a-z0-9]+", "-", device.device_kind.lower()).strip("-")


def today() -> str:
  return datetime.date.today().isoformat()


def _cpuinfo() -> str:
  try:
    with open("/proc/cpuinfo") as f:
      return f.read()
  except OSError:
    return ""


def cpu_peak_flops() -> tuple[float | None, str]:
  """(float32 FLOP/s, how it was computed) for the cores this process may use, at the base clock."""
  info = _cpuinfo()
  flag_line = re.search(r"^flags\s*:(.*)$", info, re.M)
  flags = set(flag_line.group(1).split()) if flag_line else set()
  mhz = re.search(r"^cpu MHz\s*:\s*([\d.]+)", info, re.M)
  if mhz is None:
    return None, "unknown: /proc/cpuinfo gives no clock"
  per_cycle = next((flop for flag, flop in _CPU_FLOP_PER_CYCLE if flag in flags), _SSE_FLOP_PER_CYCLE)
  cores = len(os.sched_getaffinity(0))
  ghz = float(mhz.group(1)) / 1e3
  return cores * ghz * 1e9 * per_cycle, (
      f"{cores} cores x {ghz:.2f} GHz (/proc/cpuinfo) x {per_cycle} float32 FLOP/cycle "
      f"({'AVX-512' if per_cycle == 64 else 'AVX2' if per_cycle == 32 else 'SSE'}: lanes x 2 per FMA x 2 FMA units, "
      "Intel optimization manual); bfloat16 assumed no faster")


def peak_flops(dtype: str) -> tuple[float | None, str]:
  """(FLOP/s, source) of one device of this process for `dtype` ('float32' | 'bfloat16'); None if unknown."""
  device = jax.devices()[0]
  if device.platform == "cpu":
    return cpu_peak_flops()
  for name, bf16, f32, source in _GPU_PEAKS:
    if name in device.device_kind:
      return (bf16 if dtype == "bfloat16" else f32), source
  return None, f"unknown: no datasheet peak recorded for {device.device_kind!r}"


def environment() -> dict:
  """Device, date and software versions, for every result file."""
  return {"device": device_name(), "device_count": jax.device_count(), "date": today(),
          "jax_version": jax.__version__, "python": platform.python_version(),
          "processor": platform.processor() or platform.machine()}


def write_report(report: dict, path: str | None) -> None:
  """Writes a benchmark's figures as JSON to `path` (its --json flag); nothing when it is None."""
  if path:
    with open(path, "w") as out:
      json.dump(report, out, indent=2)


if __name__ == "__main__":
  print(machine_tag())
