"""The convolutional autoencoder of METHOD.md §2: encoder trunk, linear latent, decoder.

The encoder trunk (B1..B5, attention, flatten, FC1) is the one module that the autoencoder's
encoder, the discriminator and the anomaly classifier all use; the decoder (FC3, FC4, D1..D5) is
the one module used both as the autoencoder's decoder and as the generator. Weight transfer is
therefore a copy of parameter subtrees (see transfer.py).

Variants: 'baseline'; 'cbam' (CBAM after B2 and after B5); 'attention_gate' (LTPA gates on the
B2 and B4 maps, pooled into FC1's input). Input 64x64 or 128x128 with C channels (one per HU
window); from B2 on both sizes have the same shapes, so the flatten is 4*4*128 = 2048 at both.
"""

from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

from gancbam_jax.models.attention import CBAM, AttentionGate
from gancbam_jax.models.blocks import ConvBlock, UpBlock
from gancbam_jax.models.upsampling import DEFAULT_UPSAMPLE, Upsample2x, UpsampleMethod

Variant = Literal["baseline", "cbam", "attention_gate"]
VARIANTS: tuple[Variant, ...] = ("baseline", "cbam", "attention_gate")
IMAGE_SIZES = (64, 128)
DEFAULT_LATENT_DIM = 100  # BAGAN; use 32 when a class has fewer than ~2 * d_z images

ENCODER_CHANNELS = (32, 64, 128, 128, 128)  # B1..B5
DECODER_CHANNELS = (128, 128, 64, 32)  # D1..D4
BOTTOM_SHAPE = (4, 4, 128)  # B5 output, FC4 output after reshape
HIDDEN_UNITS = 512  # FC1, FC3
GATE_FEATURES = 128


def check_variant(variant: str) -> None:
  """Raises ValueError for a variant the architecture does not define."""
  if variant not in VARIANTS:
    raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")


def check_image_size(image_size: int) -> None:
  """Raises ValueError for an image size the architecture does not define."""
  if image_size not in IMAGE_SIZES:
    raise ValueError(f"image_size must be one of {IMAGE_SIZES}, got {image_size}")


class EncoderTrunk(nn.Module):
  """B1..B5 (with the variant's attention), flatten, FC1 + ReLU: images (N, S, S, C) -> (N, 512).

  `dropout_rate` > 0 adds dropout after each block (the discriminator's BAGAN option); it needs a
  'dropout' rng when `train` is true.
  """

  variant: Variant = "baseline"
  image_size: int = 128
  dropout_rate: float = 0.0
  dtype: jnp.dtype = jnp.float32
  channels: int = 1

  @nn.compact
  def __call__(self, images: jax.Array, train: bool) -> jax.Array:
    check_variant(self.variant)
    check_image_size(self.image_size)
    expected = (self.image_size, self.image_size, self.channels)
    if images.shape[1:] != expected:
      raise ValueError(f"expected images of shape (N, {', '.join(map(str, expected))}), got {images.shape}")
    x = images
    block_outputs = []
    for i, channels in enumerate(ENCODER_CHANNELS):
      # At 64x64, B1 keeps the size so that B2..B5 match the 128x128 network.
      geometry = dict(kernel_size=(3, 3), strides=(1, 1)) if i == 0 and self.image_size == 64 else {}
      x = ConvBlock(channels, **geometry, dtype=self.dtype, name=f"b{i + 1}")(x, train)
      if self.variant == "cbam" and i in (1, 4):
        x = CBAM(dtype=self.dtype, name=f"cbam_b{i + 1}")(x)
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
      block_outputs.append(x)
    flat = x.reshape(x.shape[0], -1)
    if self.variant == "attention_gate":
      gated = AttentionGate(GATE_FEATURES, dtype=self.dtype, name="gate")((block_outputs[1], block_outputs[3]), flat)
      flat = jnp.concatenate([flat, gated], axis=-1)
    return nn.relu(nn.Dense(HIDDEN_UNITS, dtype=self.dtype, name="fc1")(flat))


class Encoder(nn.Module):
  """Encoder trunk then FC2, a linear latent layer: images -> z (N, latent_dim), float32.

  FC2 is linear (not the paper's ReLU): a rectified latent is zero-inflated and fits the class
  Gaussians N(mu_c, Sigma_c) badly; BAGAN's latent layer is linear too.
  """

  variant: Variant = "baseline"
  image_size: int = 128
  latent_dim: int = DEFAULT_LATENT_DIM
  dtype: jnp.dtype = jnp.float32
  channels: int = 1

  @nn.compact
  def __call__(self, images: jax.Array, train: bool) -> jax.Array:
    features = EncoderTrunk(self.variant, self.image_size, dtype=self.dtype, channels=self.channels,
                            name="trunk")(images, train)
    return nn.Dense(self.latent_dim, dtype=self.dtype, name="latent")(features).astype(jnp.float32)


class Decoder(nn.Module):
  """FC3, FC4, D1..D5: z (N, latent_dim) -> images (N, S, S, C), linear output in float32.

  This module is also the BAGAN generator. D5 is an upsampling by 2 at 128x128 and a stride-1
  3x3 conv at 64x64; it has neither BatchNorm nor activation.
  """

  image_size: int = 128
  latent_dim: int = DEFAULT_LATENT_DIM
  upsample: UpsampleMethod = DEFAULT_UPSAMPLE
  dtype: jnp.dtype = jnp.float32
  channels: int = 1

  @nn.compact
  def __call__(self, z: jax.Array, train: bool) -> jax.Array:
    check_image_size(self.image_size)
    if z.shape[1:] != (self.latent_dim,):
      raise ValueError(f"expected latents of shape (N, {self.latent_dim}), got {z.shape}")
    x = nn.relu(nn.Dense(HIDDEN_UNITS, dtype=self.dtype, name="fc3")(z))
    x = nn.relu(nn.Dense(BOTTOM_SHAPE[0] * BOTTOM_SHAPE[1] * BOTTOM_SHAPE[2], dtype=self.dtype, name="fc4")(x))
    x = x.reshape(x.shape[0], *BOTTOM_SHAPE)
    for i, channels in enumerate(DECODER_CHANNELS):
      x = UpBlock(channels, self.upsample, dtype=self.dtype, name=f"d{i + 1}")(x, train)
    if self.image_size == 128:
      x = Upsample2x(self.channels, method=self.upsample, dtype=self.dtype, name="d5")(x)
    else:
      x = nn.Conv(self.channels, (3, 3), padding="SAME", dtype=self.dtype, name="d5")(x)
    return x.astype(jnp.float32)


def as_slices(decoded: jax.Array) -> jax.Array:
  """The decoder's (or generator's) linear output as slices: clipped to the real slices' Min-Max range [0, 1].

  Every consumer of decoded images sees them so: D, the classifier (as synthetic slices), and the
  reconstruction error of the reconstruction detector and of the autoencoder's validation check.
  Below the window's lower edge, where every real pixel is exactly 0, a linear output draws small
  values of either sign; unclipped, D could tell fakes by negative pixels that no real slice has.
  """
  return jnp.clip(decoded, 0.0, 1.0)


class Autoencoder(nn.Module):
  """Encoder and decoder; `encode`, `decode` and `__call__` (reconstruct) work with `apply(method=...)`.

  Variables: {'params': {'encoder': {'trunk', 'latent'}, 'decoder': {...}}, 'batch_stats': same keys}.
  """

  variant: Variant = "baseline"
  image_size: int = 128
  latent_dim: int = DEFAULT_LATENT_DIM
  upsample: UpsampleMethod = DEFAULT_UPSAMPLE
  dtype: jnp.dtype = jnp.float32
  channels: int = 1

  def setup(self) -> None:
    self.encoder = Encoder(self.variant, self.image_size, self.latent_dim, dtype=self.dtype, channels=self.channels)
    self.decoder = Decoder(self.image_size, self.latent_dim, self.upsample, dtype=self.dtype, channels=self.channels)

  def encode(self, images: jax.Array, train: bool) -> jax.Array:
    """Images (N, S, S, C) -> latents (N, latent_dim)."""
    return self.encoder(images, train)

  def decode(self, z: jax.Array, train: bool) -> jax.Array:
    """Latents (N, latent_dim) -> images (N, S, S, C)."""
    return self.decoder(z, train)

  def __call__(self, images: jax.Array, train: bool) -> jax.Array:
    """Reconstructs images (N, S, S, C)."""
    return self.decode(self.encode(images, train), train)


def build_autoencoder(
    variant: Variant = "cbam",
    image_size: int = 128,
    latent_dim: int = DEFAULT_LATENT_DIM,
    dtype: jnp.dtype = jnp.float32,
    upsample: UpsampleMethod = DEFAULT_UPSAMPLE,
    channels: int = 1,
) -> Autoencoder:
  """The autoencoder for a config (channels: one per HU window); raises ValueError for an unknown variant or size."""
  check_variant(variant)
  check_image_size(image_size)
  if channels < 1:
    raise ValueError(f"channels must be at least 1 (one per HU window), got {channels}")
  return Autoencoder(variant, image_size, latent_dim, upsample, dtype, channels=channels)
