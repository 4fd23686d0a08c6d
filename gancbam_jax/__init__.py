"""GAN-CBAM anomaly detection for CT images, in JAX/Flax."""

__version__ = "0.1.0"
