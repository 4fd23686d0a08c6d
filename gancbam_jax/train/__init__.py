"""Training: autoencoder pretraining, class-conditional latent Gaussians, BAGAN min-max, augmentation.

  summary = train(config, workdir)  # runs or resumes every stage; see pipeline.py for the workdir
"""

from gancbam_jax.train.bagan import GanState, bagan_step, conditioning_classes, discriminator_batch, fakes_per_batch
from gancbam_jax.train.gaussians import ClassGaussians, fit_class_gaussians, sample_latents
from gancbam_jax.train.checkpoints import CheckpointMismatchError
from gancbam_jax.train.loop import IncompleteRunError, NonFiniteLossError
from gancbam_jax.train.pipeline import train
from gancbam_jax.train.settings import ConfigError, validate_config

__all__ = [
    "CheckpointMismatchError", "ClassGaussians", "ConfigError", "GanState", "IncompleteRunError", "NonFiniteLossError",
    "bagan_step", "conditioning_classes", "discriminator_batch", "fakes_per_batch", "fit_class_gaussians",
    "sample_latents", "train", "validate_config",
]
