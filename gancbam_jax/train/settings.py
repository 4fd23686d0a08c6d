"""Checks of a training config's values, each failing with the field's name and what to use instead.

Unknown fields are already refused by ml_collections when a command line overrides them; this
module refuses known fields with unusable values before any data is loaded or compiled.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import ml_collections

from gancbam_jax.data.source import parse_slice_selection
from gancbam_jax.models import GENERATOR_LAYERS, IMAGE_SIZES, UPSAMPLE_METHODS, VARIANTS
from gancbam_jax.train.state import SCHEDULES
from gancbam_jax.train.transforms import MIXUP_PARTNERS, parse_policy

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
# Changing these after a run started would make its checkpoints mean something else.
RUN_DEFINING_SECTIONS = ("seed", "data", "model")


class ConfigError(ValueError):
  """A config field holds an unusable value."""


def require(condition: bool, field: str, message: str) -> None:
  """Raises ConfigError naming `field` with `message` unless `condition` holds."""
  if not condition:
    raise ConfigError(f"config field {field}: {message}")


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first field whose value the training pipeline cannot use."""
  model, train = config.model, config.train
  require(model.variant in VARIANTS, "model.variant", f"{model.variant!r} is not one of {VARIANTS}")
  require(model.upsample in UPSAMPLE_METHODS, "model.upsample", f"{model.upsample!r} is not one of {UPSAMPLE_METHODS}")
  require(model.dtype in DTYPES, "model.dtype", f"{model.dtype!r} is not one of {tuple(DTYPES)}")
  require(model.latent_dim >= 1, "model.latent_dim", f"must be positive, got {model.latent_dim}")
  require(0.0 <= model.discriminator_dropout < 1.0, "model.discriminator_dropout",
          f"must lie in [0, 1), got {model.discriminator_dropout}")
  _validate_data(config.data)
  require(config.data.image_size in IMAGE_SIZES, "data.image_size",
          f"the models are defined for {IMAGE_SIZES}, got {config.data.image_size}")
  require(train.batch_size >= 1, "train.batch_size", f"must be positive, got {train.batch_size}")
  require(train.ae_batch_size >= 0, "train.ae_batch_size",
          f"must be 0 (train.batch_size) or positive, got {train.ae_batch_size}")
  require(train.num_devices >= 0, "train.num_devices", f"must be 0 (all) or a device count, got {train.num_devices}")
  for field in ("ae_steps", "gan_steps"):
    require(getattr(train, field) >= 1, f"train.{field}", f"must be at least 1, got {getattr(train, field)}")
  for field in ("log_every", "checkpoint_every", "max_to_keep"):
    require(getattr(train, field) >= 1, f"train.{field}", f"must be at least 1, got {getattr(train, field)}")
  require(train.sample_every >= 0, "train.sample_every", f"must be 0 (end only) or positive, got {train.sample_every}")
  for field in ("ae_learning_rate", "gan_learning_rate"):
    require(getattr(train, field) > 0, f"train.{field}", f"must be positive, got {getattr(train, field)}")
  for field in ("ae_beta1", "gan_beta1"):
    require(0.0 <= getattr(train, field) < 1.0, f"train.{field}", f"must lie in [0, 1), got {getattr(train, field)}")
  phantom = config.data.phantom
  for field in ("noise_hu", "lesion_diameter_mm"):
    require(getattr(phantom, field) >= 0, f"data.phantom.{field}",
            f"must be 0 (the preset's range) or positive, got {getattr(phantom, field)}")
  require(phantom.contrast_scale > 0, "data.phantom.contrast_scale", f"must be positive, got {phantom.contrast_scale}")
  require(train.generator_layers in GENERATOR_LAYERS, "train.generator_layers",
          f"{train.generator_layers!r} is not one of {tuple(GENERATOR_LAYERS)}")
  require(train.lr_schedule in SCHEDULES, "train.lr_schedule", f"{train.lr_schedule!r} is not one of {SCHEDULES}")
  require(train.ae_weight_decay >= 0, "train.ae_weight_decay", f"must be non-negative, got {train.ae_weight_decay}")
  require(train.floor_margin >= 0, "train.floor_margin", f"must be non-negative, got {train.floor_margin}")
  _validate_augment(config.augment)
  require(train.gaussian_ridge >= 0, "train.gaussian_ridge", f"must be non-negative, got {train.gaussian_ridge}")
  require(train.gan_anchor_weight >= 0, "train.gan_anchor_weight",
          f"must be 0 (BAGAN's generator loss alone) or positive, got {train.gan_anchor_weight}")


def _validate_data(data: ml_collections.ConfigDict) -> None:
  require(data.max_pixel_mib > 0, "data.max_pixel_mib", f"must be positive, got {data.max_pixel_mib}")
  rescale = tuple(data.image_rescale)
  require(not rescale or (len(rescale) == 2 and rescale[0] != 0 and all(math.isfinite(v) for v in rescale)),
          "data.image_rescale", f"must be () or (slope, intercept) with a non-zero slope, e.g. (1, -1024); got {rescale}")
  try:
    parse_slice_selection(data.slice_selection)
  except ValueError as error:
    raise ConfigError(f"config field data.slice_selection: {error}") from None


def _validate_augment(augment: ml_collections.ConfigDict) -> None:
  for field in ("rotation_deg", "shift_fraction", "intensity_shift", "mixup_alpha"):
    require(getattr(augment, field) >= 0, f"augment.{field}", f"must be 0 (none) or positive, got {getattr(augment, field)}")
  require(augment.mixup_partners in MIXUP_PARTNERS, "augment.mixup_partners",
          f"{augment.mixup_partners!r} is not one of {MIXUP_PARTNERS}")
  for field in ("zoom", "intensity_scale"):
    require(0 <= getattr(augment, field) < 1, f"augment.{field}", f"must lie in [0, 1), got {getattr(augment, field)}")
  require(augment.autoencoder_affine_scale > 0 and augment.zoom * augment.autoencoder_affine_scale < 1,
          "augment.autoencoder_affine_scale",
          f"must be positive and keep the autoencoder's zoom (augment.zoom times it) below 1, got "
          f"{augment.autoencoder_affine_scale} with augment.zoom {augment.zoom}")
  try:
    parse_policy(augment.diffaugment)
  except ValueError as error:
    raise ConfigError(f"config field augment.diffaugment: {error} (or '' for none)") from None


def changed_fields(saved: dict, current: dict, prefix: str = "") -> list[str]:
  """Dotted names of the fields whose values differ between two config dicts."""
  changed = []
  for key in sorted(set(saved) | set(current)):
    name = f"{prefix}{key}"
    old, new = saved.get(key), current.get(key)
    if isinstance(old, dict) and isinstance(new, dict):
      changed += changed_fields(old, new, name + ".")
    elif _jsonable(old) != _jsonable(new):
      changed.append(name)
  return changed


def _jsonable(value):
  return list(value) if isinstance(value, tuple) else value
