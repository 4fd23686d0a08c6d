"""Times the decoder's forward + backward pass with transposed-conv and sub-pixel upsampling.

  python benchmarks/upsampling.py [--batch 64] [--sizes 64 128] [--steps 3] [--repeats 3] [--json FILE]

Per (image size, method): compile time, then `repeats` timings of `steps` training-mode steps
(MSE loss, gradients of all decoder parameters, BatchNorm batch statistics), each blocked on its
result. Reports the median and minimum milliseconds per step; --json writes one JSON object.
The defaults are small because on a 2-core CPU a transposed-conv step takes ~15 s, nearly all of
it in the kernel gradient of XLA's dilated-input convolution.
"""

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from gancbam_jax.models import DEFAULT_LATENT_DIM, UPSAMPLE_METHODS, Decoder, init_variables


def decoder_step(decoder: Decoder):
  """A jitted forward + backward pass of the decoder on (variables, z, target)."""

  def loss(params, batch_stats, z, target):
    images, updates = decoder.apply({"params": params, "batch_stats": batch_stats}, z, train=True, mutable=["batch_stats"])
    return jnp.mean((images - target) ** 2), updates

  @jax.jit
  def step(variables, z, target):
    (value, updates), grads = jax.value_and_grad(loss, has_aux=True)(variables["params"], variables["batch_stats"], z, target)
    return value, grads, updates

  return step


def time_method(image_size: int, method: str, batch: int, steps: int, repeats: int) -> dict[str, float | list[float]]:
  """Compile time and per-step times (ms) of one decoder configuration."""
  decoder = Decoder(image_size, DEFAULT_LATENT_DIM, method)
  variables = init_variables(decoder, jax.random.key(0))
  z = jax.random.normal(jax.random.key(1), (batch, DEFAULT_LATENT_DIM))
  target = jax.random.uniform(jax.random.key(2), (batch, image_size, image_size, 1))
  step = decoder_step(decoder)

  start = time.perf_counter()
  compiled = step.lower(variables, z, target).compile()
  compile_s = time.perf_counter() - start
  jax.block_until_ready(compiled(variables, z, target))  # warm-up run, not timed

  per_step_ms = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(steps):
      result = compiled(variables, z, target)
    jax.block_until_ready(result)
    per_step_ms.append(1e3 * (time.perf_counter() - start) / steps)
  return dict(compile_s=compile_s, median_ms=statistics.median(per_step_ms), min_ms=min(per_step_ms), repeats_ms=per_step_ms)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
  parser.add_argument("--steps", type=int, default=3)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--json", help="write the figures to this file as one JSON object")
  args = parser.parse_args()

  results = {}
  for image_size in args.sizes:
    for method in UPSAMPLE_METHODS:
      figures = time_method(image_size, method, args.batch, args.steps, args.repeats)
      results[f"{method}_{image_size}"] = figures
      print(f"{image_size:4d}x{image_size:<4d} {method:10s} compile {figures['compile_s']:6.2f} s   "
            f"median {figures['median_ms']:8.1f} ms/step   min {figures['min_ms']:8.1f} ms/step", flush=True)
    speedup = results[f"transpose_{image_size}"]["median_ms"] / results[f"subpixel_{image_size}"]["median_ms"]
    results[f"speedup_subpixel_over_transpose_{image_size}"] = speedup
    print(f"{image_size:4d}x{image_size:<4d} sub-pixel speed-up over transpose: {speedup:.2f}x", flush=True)

  report = dict(
      benchmark="decoder forward+backward, training mode",
      batch=args.batch, steps=args.steps, repeats=args.repeats,
      device=str(jax.devices()[0].device_kind), backend=jax.default_backend(),
      jax_version=jax.__version__, numpy_version=np.__version__,
      results=results,
  )
  if args.json:
    with open(args.json, "w") as f:
      json.dump(report, f, indent=2)


if __name__ == "__main__":
  main()
