"""BAGAN's generator and (n+1)-class discriminator, and the anomaly classifier, built from an autoencoder.

The generator is the autoencoder's `Decoder`. The discriminator and the classifier are both an
`ImageClassifier`: the autoencoder's encoder trunk (without the latent layer) and a fresh linear
head, Dense(n_classes + 1) with index n_classes = FAKE for D, Dense(2) for C. Each builder takes
the autoencoder so the new model's trunk or decoder matches it structurally, which weight
transfer needs.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from gancbam_jax.models.autoencoder import Autoencoder, Decoder, EncoderTrunk, Variant

ANOMALY_CLASSES = 2  # normal, anomalous
BAGAN_DROPOUT = 0.3  # BAGAN's discriminator rate; off by default, a config turns it on


class ImageClassifier(nn.Module):
  """Encoder trunk and a linear head: images (N, S, S, C) -> float32 logits (N, num_logits).

  Variables: {'params': {'trunk', 'head'}, 'batch_stats': {'trunk'}}. `features` returns the
  trunk output (the penultimate features f_D of f-AnoGAN scoring).
  """

  num_logits: int
  variant: Variant = "baseline"
  image_size: int = 128
  dropout_rate: float = 0.0
  dtype: jnp.dtype = jnp.float32
  channels: int = 1

  def setup(self) -> None:
    self.trunk = EncoderTrunk(self.variant, self.image_size, self.dropout_rate, dtype=self.dtype, channels=self.channels)
    self.head = nn.Dense(self.num_logits, dtype=self.dtype)

  def features(self, images: jax.Array, train: bool) -> jax.Array:
    """Trunk features (N, 512) in float32."""
    return self.trunk(images, train).astype(jnp.float32)

  def __call__(self, images: jax.Array, train: bool) -> jax.Array:
    # Softmax and losses downstream run in float32, whatever the compute dtype.
    return self.head(self.trunk(images, train)).astype(jnp.float32)


# The generator's layers by what BAGAN's adversarial steps may change (train.generator_layers).
# "dense": FC3 and FC4, which map a latent to the 4x4x128 bottom; the convolutional upsampling stack
# stays the decoder's, which renders any bottom as a slice. "all": every layer, as BAGAN does.
GENERATOR_LAYERS = {"dense": ("fc3", "fc4"), "all": ("fc3", "fc4", "d1", "d2", "d3", "d4", "d5")}


def fake_label(n_classes: int) -> int:
  """The discriminator's FAKE class index: the last of its n_classes + 1 outputs."""
  return n_classes


def build_generator(autoencoder: Autoencoder) -> Decoder:
  """The generator: a decoder with the autoencoder's size, latent size, upsampling and dtype."""
  return Decoder(autoencoder.image_size, autoencoder.latent_dim, autoencoder.upsample, dtype=autoencoder.dtype,
                 channels=autoencoder.channels)


def build_discriminator(autoencoder: Autoencoder, n_classes: int, dropout_rate: float = 0.0) -> ImageClassifier:
  """The (n_classes + 1)-way discriminator whose trunk matches the autoencoder's encoder."""
  return ImageClassifier(n_classes + 1, autoencoder.variant, autoencoder.image_size, dropout_rate, autoencoder.dtype,
                         channels=autoencoder.channels)


def build_classifier(autoencoder: Autoencoder, dropout_rate: float = 0.0) -> ImageClassifier:
  """The normal-vs-anomalous classifier whose trunk matches the autoencoder's encoder."""
  return ImageClassifier(ANOMALY_CLASSES, autoencoder.variant, autoencoder.image_size, dropout_rate, autoencoder.dtype,
                         channels=autoencoder.channels)
