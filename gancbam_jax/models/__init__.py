"""Flax Linen models of GAN-CBAM: CBAM and attention-gate autoencoders, BAGAN generator and discriminator.

Typical use:

  autoencoder = build_autoencoder('cbam', image_size=128, latent_dim=100)
  ae_vars = init_variables(autoencoder, rng)
  z = autoencoder.apply(ae_vars, images, train=False, method='encode')
  generator = build_generator(autoencoder)
  g_vars = generator_from_autoencoder(ae_vars, init_variables(generator, rng))
  discriminator = build_discriminator(autoencoder, n_classes=2)
  d_vars = trunk_from_autoencoder(ae_vars, init_variables(discriminator, rng))
"""

from gancbam_jax.models.attention import CBAM, AttentionGate, ChannelAttention, SpatialAttention, attention_maps
from gancbam_jax.models.autoencoder import (
    DEFAULT_LATENT_DIM,
    IMAGE_SIZES,
    VARIANTS,
    Autoencoder,
    Decoder,
    Encoder,
    EncoderTrunk,
    Variant,
    as_slices,
    build_autoencoder,
)
from gancbam_jax.models.gan import (
    GENERATOR_LAYERS,
    ImageClassifier,
    build_classifier,
    build_discriminator,
    build_generator,
    fake_label,
)
from gancbam_jax.models.summary import parameter_counts, parameter_table
from gancbam_jax.models.transfer import generator_from_autoencoder, trunk_from_autoencoder, trunk_from_discriminator
from gancbam_jax.models.upsampling import (
    DEFAULT_UPSAMPLE,
    UPSAMPLE_METHODS,
    Upsample2x,
    UpsampleMethod,
    interleave_phases,
    phase_kernel,
)
from gancbam_jax.models.variables import Variables, count_params, example_input, init_variables

__all__ = [
    "CBAM", "AttentionGate", "ChannelAttention", "SpatialAttention", "attention_maps",
    "DEFAULT_LATENT_DIM", "IMAGE_SIZES", "VARIANTS", "Autoencoder", "Decoder", "Encoder", "EncoderTrunk",
    "Variant", "as_slices", "build_autoencoder",
    "GENERATOR_LAYERS", "ImageClassifier", "build_classifier", "build_discriminator", "build_generator", "fake_label",
    "parameter_counts", "parameter_table",
    "generator_from_autoencoder", "trunk_from_autoencoder", "trunk_from_discriminator",
    "DEFAULT_UPSAMPLE", "UPSAMPLE_METHODS", "Upsample2x", "UpsampleMethod", "interleave_phases", "phase_kernel",
    "Variables", "count_params", "example_input", "init_variables",
]
