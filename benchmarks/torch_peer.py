"""JAX against a PyTorch implementation of the same networks and training steps, timed in the same run.

  pip install -e '.[bench]'    # torch==2.13.0
  python benchmarks/torch_peer.py --json torch_peer.json [--sizes 64 128] [--batches 32 128] [--quick]
                                  [--dtype float32|bfloat16] [--no-compile]

The PyTorch side (torch_models.py) is the encoder, CBAM, decoder and discriminator written as a
PyTorch user would: NCHW, `nn.Conv2d`, `nn.ConvTranspose2d`, `nn.BatchNorm2d`, Adam with
`fused=True`. Before any timing, the JAX models' variables are copied into the peers and their
outputs compared, so both sides compute the same function (the differences go into the report).
The steps mirror the JAX ones: the autoencoder's MSE step; BAGAN's D step on the real batch plus
ceil(B / 2) fakes from G in inference mode, then G's step on ceil(B / 2) new fakes scored inside
a batch with the same real images, through D with D's weights frozen and its running statistics
untouched; the classifier's weighted cross-entropy step. Batches are drawn
on the device from a resident set in both. Each step is timed eagerly and, unless --no-compile,
under `torch.compile` (its first step, which compiles, is reported apart). For each step,
`speedup` = PyTorch seconds per step / JAX seconds per step: above 1, JAX is faster.
--quick: 64x64, batch 32, short runs, eager only (about a minute on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np
import torch
import torch.nn.functional as F

import torch_models
from clock import steady_state_seconds
from devices import environment, write_report
from gancbam_jax import models
from gancbam_jax.train import parallel
from gancbam_jax.train.bagan import fakes_per_batch
from jax_steps import N_CLASSES, RESIDENT_BATCHES, STEP_NAMES, time_training_step, training_steps

VARIANT = "cbam"
LEARNING_RATE, BETA1 = 1e-4, 0.5
# Largest output difference accepted between a Flax model and its peer, relative to the outputs' scale.
EQUIVALENCE_TOLERANCE = 1e-4


def torch_device() -> torch.device:
  return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def synchronize(device: torch.device) -> None:
  if device.type == "cuda":
    torch.cuda.synchronize(device)


def equivalence(image_size: int, device: torch.device) -> dict[str, float]:
  """Max |Flax - PyTorch| / max |Flax| of each network's outputs on the same images and weights (float32)."""
  autoencoder = models.build_autoencoder(VARIANT, image_size)
  classifier = models.build_classifier(autoencoder)
  ae_vars = models.init_variables(autoencoder, jax.random.key(0))
  c_vars = models.init_variables(classifier, jax.random.key(1))
  ae_peer = torch_models.Autoencoder(VARIANT, image_size, models.DEFAULT_LATENT_DIM).to(device)
  c_peer = torch_models.ImageClassifier(c_vars["params"]["head"]["bias"].shape[0], VARIANT, image_size).to(device)
  torch_models.load_flax_variables(ae_peer, ae_vars)
  torch_models.load_flax_variables(c_peer, c_vars)
  images = np.random.default_rng(0).uniform(size=(8, image_size, image_size, 1)).astype(np.float32)
  torch_images = torch.from_numpy(images.transpose(0, 3, 1, 2).copy()).to(device)

  def difference(flax_out, torch_out) -> float:
    flax_out = np.asarray(flax_out)
    torch_out = torch_out.detach().cpu().numpy()
    if torch_out.ndim == 4:
      torch_out = torch_out.transpose(0, 2, 3, 1)
    return float(np.max(np.abs(flax_out - torch_out)) / max(np.max(np.abs(flax_out)), 1e-12))

  figures = {}
  tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
  torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
  try:
    with jax.default_matmul_precision("highest"), torch.no_grad():
      for train in (False, True):
        mode = "train" if train else "inference"
        ae_peer.train(train)
        c_peer.train(train)
        reconstruction = autoencoder.apply(ae_vars, images, train=train, mutable=["batch_stats"] if train else False)
        logits = classifier.apply(c_vars, images, train=train, mutable=["batch_stats"] if train else False)
        if train:
          reconstruction, logits = reconstruction[0], logits[0]
        figures[f"autoencoder_{mode}"] = difference(reconstruction, ae_peer(torch_images))
        figures[f"classifier_{mode}"] = difference(logits, c_peer(torch_images))
  finally:
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
  worst = max(figures, key=figures.get)
  if figures[worst] > EQUIVALENCE_TOLERANCE:
    raise AssertionError(f"the PyTorch peer computes another function: {worst} differs by {figures[worst]:.2e} "
                         f"of the output scale (tolerance {EQUIVALENCE_TOLERANCE})")
  return figures


class TorchSteps:
  """The three training steps in PyTorch on a resident random training set."""

  def __init__(self, image_size: int, batch_size: int, dtype: str, device: torch.device, compiled: bool):
    self.batch_size, self.device = batch_size, device
    n = RESIDENT_BATCHES * batch_size
    generator = torch.Generator().manual_seed(0)
    self.images = torch.rand(n, 1, image_size, image_size, generator=generator).to(device)
    self.labels = (torch.rand(n, generator=generator) < 0.2).long().to(device)
    self.latent_mean = torch.zeros(N_CLASSES, models.DEFAULT_LATENT_DIM, device=device)
    self.latent_scale = torch.eye(models.DEFAULT_LATENT_DIM, device=device).expand(N_CLASSES, -1, -1).contiguous()
    self.class_weights = torch.ones(N_CLASSES, device=device)
    self.autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bfloat16")
    nets = {"autoencoder": torch_models.Autoencoder(VARIANT, image_size, models.DEFAULT_LATENT_DIM),
            "generator": torch_models.Decoder(image_size, models.DEFAULT_LATENT_DIM),
            "discriminator": torch_models.ImageClassifier(N_CLASSES + 1, VARIANT, image_size),
            "classifier": torch_models.ImageClassifier(N_CLASSES, VARIANT, image_size)}
    self.nets = {name: net.to(device).train() for name, net in nets.items()}
    self.optimizers = {name: torch.optim.Adam(net.parameters(), LEARNING_RATE, betas=(BETA1, 0.999), fused=True)
                       for name, net in self.nets.items()}
    self.forward = {name: torch.compile(net) if compiled else net for name, net in self.nets.items()}

  def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
    index = torch.randperm(self.images.shape[0], device=self.device)[:self.batch_size]
    return self.images[index], self.labels[index]

  def _latents(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    classes = torch.randint(0, N_CLASSES, (count,), device=self.device)
    noise = torch.randn(count, models.DEFAULT_LATENT_DIM, device=self.device)
    return self.latent_mean[classes] + torch.einsum("nij,nj->ni", self.latent_scale[classes], noise), classes

  def _minimise(self, name: str, loss: torch.Tensor) -> None:
    self.optimizers[name].zero_grad(set_to_none=True)
    loss.backward()
    self.optimizers[name].step()

  def autoencoder(self) -> None:
    x, _ = self._batch()
    with self.autocast:
      reconstruction = self.forward["autoencoder"](x)
    self._minimise("autoencoder", F.mse_loss(reconstruction.float(), x))

  def bagan(self) -> None:
    x, y = self._batch()
    fakes_count = fakes_per_batch(self.batch_size, N_CLASSES)
    z, _ = self._latents(fakes_count)
    generator, discriminator = self.nets["generator"], self.nets["discriminator"]
    generator.eval()
    with torch.no_grad(), self.autocast:
      fakes = self.forward["generator"](z)
    generator.train()
    targets = torch.cat([y, torch.full((fakes_count,), N_CLASSES, device=self.device)])
    with self.autocast:
      logits = self.forward["discriminator"](torch.cat([x, fakes.to(x.dtype)]))
    self._minimise("discriminator", F.cross_entropy(logits.float(), targets))

    z, classes = self._latents(fakes_count)
    discriminator.requires_grad_(False)
    with torch_models.frozen_running_statistics(discriminator), self.autocast:
      logits = self.forward["discriminator"](torch.cat([x, self.forward["generator"](z).to(x.dtype)]))
    self._minimise("generator", F.cross_entropy(logits[self.batch_size:].float(), classes))
    discriminator.requires_grad_(True)

  def classifier(self) -> None:
    x, y = self._batch()
    with self.autocast:
      logits = self.forward["classifier"](x)
    loss = F.cross_entropy(logits.float(), y, reduction="none") * self.class_weights[y]
    self._minimise("classifier", loss.mean())


def time_torch_step(step, device: torch.device, min_seconds: float, repeats: int) -> dict:
  """First-step seconds and steady-state seconds per step of a PyTorch step."""

  def run(count: int) -> float:
    synchronize(device)
    began = time.perf_counter()
    for _ in range(count):
      step()
    synchronize(device)
    return time.perf_counter() - began

  first_step_s, seconds, timed = steady_state_seconds(run, min_seconds, repeats)
  return {"first_step_s": first_step_s, "seconds_per_step": seconds, "steps_timed": timed}


def compare_at(image_size: int, batch: int, args, device: torch.device, mesh) -> list[dict]:
  """One row per step: JAX's and PyTorch's (eager, compiled) times and the speedups."""
  rows = []
  jax_steps = {s.name: s for s in training_steps(VARIANT, image_size, batch, args.dtype, mesh)}
  ways = {"eager": TorchSteps(image_size, batch, args.dtype, device, compiled=False)}
  if args.compile:
    ways["compiled"] = TorchSteps(image_size, batch, args.dtype, device, compiled=True)
  for name in STEP_NAMES:
    timing = time_training_step(jax_steps[name], args.min_seconds, args.repeats)
    row = {"step": name, "image_size": image_size, "batch_size": batch, "dtype": args.dtype,
           "jax": {"compile_s": timing.compile_s, "seconds_per_step": timing.seconds_per_step,
                   "steps_timed": timing.steps_timed}}
    for way, steps in ways.items():
      try:
        torch_timing = time_torch_step(getattr(steps, name), device, args.min_seconds, args.repeats)
      except Exception as error:  # torch.compile fails on some set-ups; the eager figures still stand
        if way == "eager":
          raise
        row[f"torch_{way}"] = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"}
        continue
      torch_timing["speedup"] = torch_timing["seconds_per_step"] / timing.seconds_per_step
      row[f"torch_{way}"] = torch_timing
    rows.append(row)
    shown = " ".join(f"{way} {row[f'torch_{way}']['seconds_per_step'] * 1e3:8.1f} ms ({row[f'torch_{way}']['speedup']:.2f}x)"
                     if "speedup" in row[f"torch_{way}"] else f"{way} failed" for way in ways)
    print(f"{name:12s} {image_size:4d} {batch:5d} {args.dtype:9s} jax {timing.seconds_per_step * 1e3:8.1f} ms | "
          f"torch {shown}", flush=True)
  return rows


def parse_args() -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--json", help="write the figures to this file as one JSON object")
  parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
  parser.add_argument("--batches", type=int, nargs="+", default=[32, 128])
  parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
  parser.add_argument("--no-compile", dest="compile", action="store_false", help="time PyTorch eager only")
  parser.add_argument("--min-seconds", type=float, default=2.0)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--quick", action="store_true", help="64x64, batch 32, short runs, eager only")
  args = parser.parse_args()
  if args.quick:
    args.sizes, args.batches, args.min_seconds, args.repeats, args.compile = [64], [32], 0.5, 1, False
  return args


def main() -> None:
  args = parse_args()
  device, mesh = torch_device(), parallel.data_mesh()
  if device.type == "cuda":
    # JAX computes float32 convolutions in TF32 on these GPUs by default; let PyTorch do the same.
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
  print(f"jax on {jax.devices()[0].device_kind}, torch {torch.__version__} on {device} "
        f"({torch.get_num_threads()} threads)", flush=True)
  report = {"benchmark": "training steps, JAX vs PyTorch on the same networks", **environment(),
            "torch_version": torch.__version__, "torch_device": str(device), "torch_threads": torch.get_num_threads(),
            "variant": VARIANT, "speedup": "PyTorch seconds per step / JAX seconds per step; above 1, JAX is faster",
            "equivalence": {}, "rows": []}
  for image_size in args.sizes:
    report["equivalence"][str(image_size)] = equivalence(image_size, device)
    print(f"{image_size}x{image_size}: the peer matches the Flax models within "
          f"{max(report['equivalence'][str(image_size)].values()):.1e} of the output scale", flush=True)
    for batch in args.batches:
      report["rows"] += compare_at(image_size, batch, args, device, mesh)
  write_report(report, args.json)


if __name__ == "__main__":
  main()
