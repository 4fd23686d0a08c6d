"""The GAN-CBAM networks written in PyTorch, layer for layer as gancbam_jax.models defines them.

Encoder trunk (B1..B5 with CBAM after B2 and B5, flatten, FC1), latent layer, decoder/generator
(FC3, FC4, D1..D5 with ConvTranspose2d(4, stride 2, padding 1)) and the classifier/discriminator
(trunk and a linear head), in the layout a PyTorch user writes: NCHW tensors, `nn.Conv2d`,
`nn.BatchNorm2d`. Module names mirror the Flax parameter tree, so `load_flax_variables` copies a
Flax model's variables into its peer and the two compute the same function (the benchmark checks
this before timing). Flattening goes through NHWC order, as Flax's does, so FC1's and FC4's
weights mean the same in both.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from flax import traverse_util
from torch import nn

from gancbam_jax.models.attention import CBAM_REDUCTION, MIN_HIDDEN_UNITS, SPATIAL_KERNEL
from gancbam_jax.models.autoencoder import (BOTTOM_SHAPE, DECODER_CHANNELS, ENCODER_CHANNELS, HIDDEN_UNITS,
                                            check_image_size, check_variant)
from gancbam_jax.models.blocks import BN_EPSILON, BN_MOMENTUM, LEAKY_SLOPE

# PyTorch's BatchNorm momentum weighs the new batch; Flax's weighs the running average.
TORCH_BN_MOMENTUM = 1.0 - BN_MOMENTUM


def _bn(channels: int) -> nn.BatchNorm2d:
  return nn.BatchNorm2d(channels, eps=BN_EPSILON, momentum=TORCH_BN_MOMENTUM)


class ConvBlock(nn.Module):
  """Conv (padding 1, no bias), BatchNorm, LeakyReLU 0.2."""

  def __init__(self, c_in: int, c_out: int, kernel: int = 4, stride: int = 2):
    super().__init__()
    self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding=1, bias=False)
    self.bn = _bn(c_out)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return nn.functional.leaky_relu(self.bn(self.conv(x)), LEAKY_SLOPE)


class UpBlock(nn.Module):
  """ConvTranspose2d(4, stride 2, padding 1, no bias), BatchNorm, LeakyReLU 0.2."""

  def __init__(self, c_in: int, c_out: int):
    super().__init__()
    self.up = nn.ConvTranspose2d(c_in, c_out, 4, 2, padding=1, bias=False)
    self.bn = _bn(c_out)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return nn.functional.leaky_relu(self.bn(self.up(x)), LEAKY_SLOPE)


class ChannelAttention(nn.Module):
  def __init__(self, channels: int):
    super().__init__()
    hidden = max(channels // CBAM_REDUCTION, MIN_HIDDEN_UNITS)
    self.hidden, self.out = nn.Linear(channels, hidden), nn.Linear(hidden, channels)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    mlp = lambda descriptor: self.out(torch.relu(self.hidden(descriptor)))
    logits = mlp(x.mean(dim=(2, 3))) + mlp(x.amax(dim=(2, 3)))
    return x * torch.sigmoid(logits)[:, :, None, None]


class SpatialAttention(nn.Module):
  def __init__(self):
    super().__init__()
    self.conv = nn.Conv2d(2, 1, SPATIAL_KERNEL, padding=SPATIAL_KERNEL[0] // 2, bias=False)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
    return x * torch.sigmoid(self.conv(pooled))


class CBAM(nn.Module):
  def __init__(self, channels: int):
    super().__init__()
    self.channel, self.spatial = ChannelAttention(channels), SpatialAttention()

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.spatial(self.channel(x))


class EncoderTrunk(nn.Module):
  """B1..B5 (CBAM after B2 and B5 in the 'cbam' variant), flatten, FC1 + ReLU: (N, 1, S, S) -> (N, 512)."""

  def __init__(self, variant: str, image_size: int):
    super().__init__()
    check_variant(variant)
    check_image_size(image_size)
    if variant == "attention_gate":
      raise ValueError("the PyTorch peer defines the 'baseline' and 'cbam' variants")
    c_in = 1
    for i, channels in enumerate(ENCODER_CHANNELS):
      geometry = dict(kernel=3, stride=1) if i == 0 and image_size == 64 else {}
      self.add_module(f"b{i + 1}", ConvBlock(c_in, channels, **geometry))
      if variant == "cbam" and i in (1, 4):
        self.add_module(f"cbam_b{i + 1}", CBAM(channels))
      c_in = channels
    self.fc1 = nn.Linear(int(np.prod(BOTTOM_SHAPE)), HIDDEN_UNITS)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    for name, module in self.named_children():
      if name == "fc1":
        break
      x = module(x)
    return torch.relu(self.fc1(x.permute(0, 2, 3, 1).flatten(1)))


class Encoder(nn.Module):
  def __init__(self, variant: str, image_size: int, latent_dim: int):
    super().__init__()
    self.trunk, self.latent = EncoderTrunk(variant, image_size), nn.Linear(HIDDEN_UNITS, latent_dim)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.latent(self.trunk(x))


class Decoder(nn.Module):
  """FC3, FC4, D1..D4, D5: z (N, latent_dim) -> images (N, 1, S, S); also the generator."""

  def __init__(self, image_size: int, latent_dim: int):
    super().__init__()
    check_image_size(image_size)
    self.fc3 = nn.Linear(latent_dim, HIDDEN_UNITS)
    self.fc4 = nn.Linear(HIDDEN_UNITS, int(np.prod(BOTTOM_SHAPE)))
    c_in = BOTTOM_SHAPE[-1]
    for i, channels in enumerate(DECODER_CHANNELS):
      self.add_module(f"d{i + 1}", UpBlock(c_in, channels))
      c_in = channels
    self.d5 = nn.ConvTranspose2d(c_in, 1, 4, 2, padding=1) if image_size == 128 else nn.Conv2d(c_in, 1, 3, padding=1)

  def forward(self, z: torch.Tensor) -> torch.Tensor:
    x = torch.relu(self.fc4(torch.relu(self.fc3(z))))
    x = x.view(-1, *BOTTOM_SHAPE).permute(0, 3, 1, 2)
    for i in range(len(DECODER_CHANNELS)):
      x = getattr(self, f"d{i + 1}")(x)
    return self.d5(x)


class Autoencoder(nn.Module):
  def __init__(self, variant: str, image_size: int, latent_dim: int):
    super().__init__()
    self.encoder, self.decoder = Encoder(variant, image_size, latent_dim), Decoder(image_size, latent_dim)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.decoder(self.encoder(x))


class ImageClassifier(nn.Module):
  """Encoder trunk and a linear head: the classifier (2 logits) and BAGAN's discriminator (n + 1)."""

  def __init__(self, num_logits: int, variant: str, image_size: int):
    super().__init__()
    self.trunk, self.head = EncoderTrunk(variant, image_size), nn.Linear(HIDDEN_UNITS, num_logits)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.head(self.trunk(x))


def _torch_value(module: nn.Module, name: str, value: np.ndarray) -> tuple[str, np.ndarray]:
  """The peer's tensor name and value for one Flax leaf of `module`."""
  if name == "kernel":
    if isinstance(module, nn.Linear):
      return "weight", value.T
    if isinstance(module, nn.ConvTranspose2d):  # upsampling.py: kernel = w.transpose(2, 3, 0, 1)[::-1, ::-1]
      return "weight", value[::-1, ::-1].transpose(2, 3, 0, 1)
    return "weight", value.transpose(3, 2, 0, 1)  # HWIO -> OIHW
  return {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}[name], value


def load_flax_variables(peer: nn.Module, variables: dict) -> None:
  """Copies a Flax model's {'params', 'batch_stats'} into its PyTorch peer; every peer tensor must be set."""
  state = peer.state_dict()
  unset = {k for k in state if not k.endswith("num_batches_tracked")}
  for collection in ("params", "batch_stats"):
    for path, value in traverse_util.flatten_dict(dict(variables.get(collection, {}))).items():
      module_path = ".".join(path[:-1])
      name, converted = _torch_value(peer.get_submodule(module_path), path[-1], np.asarray(value, np.float32))
      key = f"{module_path}.{name}"
      if state[key].shape != converted.shape:
        raise ValueError(f"{key}: the peer has shape {tuple(state[key].shape)}, Flax gives {converted.shape}")
      state[key] = torch.tensor(np.ascontiguousarray(converted))  # a copy: JAX arrays are read-only
      unset.discard(key)
  if unset:
    raise ValueError(f"the Flax variables leave these peer tensors unset: {sorted(unset)}")
  peer.load_state_dict(state)


@contextlib.contextmanager
def frozen_running_statistics(module: nn.Module):
  """Batch statistics in the forward pass, running averages left alone: Flax's discarded 'batch_stats' update."""
  norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
  for m in norms:
    m.momentum = 0.0
  try:
    yield
  finally:
    for m in norms:
      m.momentum = TORCH_BN_MOMENTUM
