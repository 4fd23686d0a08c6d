"""Detection time (paper Fig. 6): milliseconds per image after compilation, at batch 1 and batch 64."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

TIMED_BATCH_SIZES = (1, 64)


def device_name() -> str:
  """The device detection runs on, e.g. 'gpu: NVIDIA H100 80GB HBM3' or 'cpu: cpu'."""
  device = jax.devices()[0]
  return f"{device.platform}: {device.device_kind}"


def time_calls(detect, images, repeats: int) -> tuple[float, np.ndarray]:
  """(seconds of the first, compiling call; seconds of each of `repeats` later calls) of `detect(images)`.

  Each call is timed until its outputs are ready, so asynchronous dispatch does not hide any work.
  """
  began = time.perf_counter()
  jax.block_until_ready(detect(images))
  compile_s = time.perf_counter() - began
  per_call = []
  for _ in range(repeats):
    began = time.perf_counter()
    jax.block_until_ready(detect(images))
    per_call.append(time.perf_counter() - began)
  return compile_s, np.asarray(per_call)


def detection_times(detect, image_size: int, repeats: int, seed: int = 0, channels: int = 1) -> dict:
  """p50 and p95 ms per image, compile time and images/s of `detect(images)` at each timed batch size."""
  timing = {"device": device_name(), "timing_repeats": repeats}
  rng = np.random.default_rng(seed)
  for batch in TIMED_BATCH_SIZES:
    images = jnp.asarray(rng.uniform(size=(batch, image_size, image_size, channels)).astype(np.float32))
    timing[f"compile_s_batch{batch}"], per_call = time_calls(detect, images, repeats)
    per_image_ms = per_call * 1e3 / batch
    timing[f"detection_ms_p50_batch{batch}"] = float(np.percentile(per_image_ms, 50))
    timing[f"detection_ms_p95_batch{batch}"] = float(np.percentile(per_image_ms, 95))
    timing[f"images_per_s_batch{batch}"] = float(batch / np.median(per_call))
  return timing
