"""Image augmentation inside the jitted training steps: classic transforms and DiffAugment.

Both take a key and a batch (N, S, S, C) of Min-Max normalised slices and return a batch of the
same shape and dtype; every image draws its own parameters from the key. A step's key is
fold_in(stage key, step), so augmentation is a function of the step and a resumed run augments
exactly as an uninterrupted one.

- Classic augmentation (autoencoder and classifier): a small random affine map (rotation,
  zoom, shift; optional left-right flip) resampled bilinearly, then intensity jitter, a random
  gain and offset of the normalised values (a window or calibration that differs a little
  between scanners), clipped back to [0, 1]. Pixels that come from outside the slice are 0, the
  Min-Max floor: air after windowing. Flipping is off by default: the heart, aorta and liver lie
  on fixed sides, and a flipped chest is not a chest the model will ever be shown.
- Mixup (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization"), classifier only: each
  slice of a batch blended with another of the same batch, lam x_i + (1 - lam) x_j with
  lam ~ Beta(alpha, alpha) per slice; the loss takes the same mixture of the two slices' labels.
  It asks for scores that change linearly between slices rather than jump, a regulariser for
  classifiers fitted to a few dozen slices. With partners of the same class only
  (`MIXUP_PARTNERS`), no slice is blended across the label: every mixture is a new slice of its
  own class, not a half-enhanced one labelled half contrast.
- DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
  Training"): brightness, contrast, translation and cutout applied to every image the
  discriminator sees, real and generated, in both the D and the G step. Each is differentiable
  in the pixels, so G's gradient passes through it; because D only ever sees augmented images,
  it cannot memorise the few real slices, the standard remedy for GANs trained on 100-1,000
  images. The ranges are the paper's, rescaled from its [-1, 1] images to [0, 1].
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
from jax.scipy.ndimage import map_coordinates

AIR = 0.0  # the Min-Max floor: what pixels brought in from outside the slice hold
# Whom a slice is mixed up with: any slice of its batch (Zhang et al.), or one of its own class.
MIXUP_PARTNERS = ("any", "same_class")
TRANSLATION_RATIO = 0.125  # DiffAugment: shifts up to 1/8 of the side
CUTOUT_RATIO = 0.5  # DiffAugment: a square of half the side
BRIGHTNESS_RANGE = 0.25  # DiffAugment's +-0.5 on [-1, 1] images
CONTRAST_RANGE = (0.5, 1.5)


@dataclasses.dataclass(frozen=True)
class ClassicAugmentation:
  """Ranges of the classic transforms; each image draws uniformly within them.

  Attributes:
    rotation_deg: rotation in [-r, r] degrees about the centre.
    zoom: scale factor in [1 - z, 1 + z].
    shift_fraction: shift in [-f, f] of the side, each axis.
    intensity_scale: gain in [1 - g, 1 + g] of the normalised values.
    intensity_shift: offset in [-o, o] added to them.
    flip: left-right flip with probability 1/2.
  """

  rotation_deg: float = 10.0
  zoom: float = 0.1
  shift_fraction: float = 0.06
  intensity_scale: float = 0.1
  intensity_shift: float = 0.05
  flip: bool = False

  @classmethod
  def from_config(cls, augment: ml_collections.ConfigDict) -> "ClassicAugmentation":
    """The policy of a config's `augment` section."""
    return cls(**{field.name: augment[field.name] for field in dataclasses.fields(cls)})

  def widened(self, factor: float) -> "ClassicAugmentation":
    """The same policy with its rotation, zoom and shift ranges times `factor`; intensity and flip unchanged."""
    return dataclasses.replace(self, rotation_deg=self.rotation_deg * factor, zoom=self.zoom * factor,
                               shift_fraction=self.shift_fraction * factor)


def _uniform(key: jax.Array, n: int, half_width: float) -> jax.Array:
  return jax.random.uniform(key, (n,), minval=-half_width, maxval=half_width)


def _resample(image: jax.Array, angle: jax.Array, scale: jax.Array, shift: jax.Array, flip: jax.Array) -> jax.Array:
  """One image (S, S, C) under an affine map about its centre, bilinear, AIR outside."""
  size = image.shape[0]
  centre = (size - 1) / 2
  rows, cols = jnp.meshgrid(jnp.arange(size, dtype=jnp.float32), jnp.arange(size, dtype=jnp.float32), indexing="ij")
  y, x = rows - centre - shift[0], cols - centre - shift[1]
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  # Inverse map: where each output pixel comes from in the input.
  source_rows = (cos * y + sin * x) / scale + centre
  source_cols = (-sin * y + cos * x) / scale + centre
  source_cols = jnp.where(flip, 2 * centre - source_cols, source_cols)
  sample = lambda channel: map_coordinates(channel, [source_rows, source_cols], order=1, mode="constant", cval=AIR)
  return jax.vmap(sample, in_axes=-1, out_axes=-1)(image)


def classic_augment(key: jax.Array, images: jax.Array, policy: ClassicAugmentation) -> jax.Array:
  """A random affine map and intensity jitter per image, clipped to [0, 1] (see the module docstring)."""
  n, size = images.shape[0], images.shape[1]
  keys = jax.random.split(key, 6)
  angle = _uniform(keys[0], n, math.radians(policy.rotation_deg))
  scale = 1.0 + _uniform(keys[1], n, policy.zoom)
  shift = jax.random.uniform(keys[2], (n, 2), minval=-policy.shift_fraction, maxval=policy.shift_fraction) * size
  flip = jax.random.bernoulli(keys[3], 0.5, (n,)) & policy.flip
  moved = jax.vmap(_resample)(images.astype(jnp.float32), angle, scale, shift, flip)
  gain = 1.0 + _uniform(keys[4], n, policy.intensity_scale)
  offset = _uniform(keys[5], n, policy.intensity_shift)
  jittered = moved * gain[:, None, None, None] + offset[:, None, None, None]
  return jnp.clip(jittered, 0.0, 1.0).astype(images.dtype)


def mixup(key: jax.Array, images: jax.Array, alpha: float,
          labels: jax.Array | None = None) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Each image blended with a partner from the same batch: a random permutation of the batch, or,
  when labels are given, a slice drawn uniformly from those of its own class (itself included).

  Returns:
    (mixed images, the partner's index (N,), the weight lam (N,) of each image's own part); a loss
    weights image i's label by lam[i] and its partner's by 1 - lam[i].
  """
  k_weight, k_partner = jax.random.split(key)
  n = images.shape[0]
  weight = jax.random.beta(k_weight, alpha, alpha, (n,))
  if labels is None:
    partner = jax.random.permutation(k_partner, n)
  else:
    # The largest of uniform draws over the slices of one's own class (others' masked below 0): a uniform pick.
    draws = jax.random.uniform(k_partner, (n, n))
    partner = jnp.argmax(jnp.where(labels[:, None] == labels[None, :], draws, -1.0), axis=1)
  blend = weight[:, None, None, None].astype(images.dtype)
  return blend * images + (1 - blend) * images[partner], partner, weight


def _brightness(key: jax.Array, images: jax.Array) -> jax.Array:
  return images + _uniform(key, images.shape[0], BRIGHTNESS_RANGE)[:, None, None, None]


def _contrast(key: jax.Array, images: jax.Array) -> jax.Array:
  factor = jax.random.uniform(key, (images.shape[0],), minval=CONTRAST_RANGE[0], maxval=CONTRAST_RANGE[1])
  mean = jnp.mean(images, axis=(1, 2, 3), keepdims=True)
  return (images - mean) * factor[:, None, None, None] + mean


def _translation(key: jax.Array, images: jax.Array) -> jax.Array:
  """Whole-pixel shifts up to TRANSLATION_RATIO of the side, AIR where the slice moved away."""
  n, size = images.shape[0], images.shape[1]
  limit = int(size * TRANSLATION_RATIO)
  shifts = jax.random.randint(key, (n, 2), -limit, limit + 1)
  index = jnp.arange(size)

  def shift_one(image, shift):
    rows, cols = index - shift[0], index - shift[1]
    inside = ((rows >= 0) & (rows < size))[:, None] & ((cols >= 0) & (cols < size))[None, :]
    moved = image[jnp.clip(rows, 0, size - 1)][:, jnp.clip(cols, 0, size - 1)]
    return jnp.where(inside[..., None], moved, AIR)

  return jax.vmap(shift_one)(images, shifts)


def _cutout(key: jax.Array, images: jax.Array) -> jax.Array:
  """A square of CUTOUT_RATIO of the side, at a random centre, set to AIR."""
  n, size = images.shape[0], images.shape[1]
  half = int(size * CUTOUT_RATIO) // 2
  centres = jax.random.randint(key, (n, 2), 0, size)
  index = jnp.arange(size)
  inside = lambda centre: (index[None, :] >= centre - half) & (index[None, :] < centre + half)
  inside_rows, inside_cols = inside(centres[:, :1]), inside(centres[:, 1:])
  cut = inside_rows[:, :, None] & inside_cols[:, None, :]
  return jnp.where(cut[..., None], AIR, images)


DIFF_AUGMENTATIONS: dict[str, Callable[[jax.Array, jax.Array], jax.Array]] = {
    "brightness": _brightness, "contrast": _contrast, "translation": _translation, "cutout": _cutout,
}


def parse_policy(policy: str) -> tuple[str, ...]:
  """The DiffAugment transforms of a comma-separated policy ('' for none), in order.

  Raises:
    ValueError: a name that is not one of DIFF_AUGMENTATIONS.
  """
  names = tuple(name.strip() for name in policy.split(",") if name.strip())
  unknown = [name for name in names if name not in DIFF_AUGMENTATIONS]
  if unknown:
    raise ValueError(f"{', '.join(unknown)} is not one of {', '.join(DIFF_AUGMENTATIONS)}")
  return names


def diff_augment(key: jax.Array, images: jax.Array, policy: tuple[str, ...]) -> jax.Array:
  """The policy's DiffAugment transforms in order, each with its own parameters per image."""
  for name, subkey in zip(policy, jax.random.split(key, max(len(policy), 1))):
    images = DIFF_AUGMENTATIONS[name](subkey, images)
  return images
