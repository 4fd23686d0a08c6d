"""Stage 1: autoencoder pretraining, MSE reconstruction of all training images (METHOD.md §3.1), or with
`floor_margin` the error of `reconstruction_error` that lets pixels at the window's floor sit below it.

With classic augmentation (the default) every batch is a random affine and intensity variant of
the slices drawn, and the autoencoder reconstructs the variant: on tens of slices it otherwise
memorises them, and its validation error equals that of predicting the mean training image.
`mean_image_error` is that reference, so a run can report val_mse / mean_image_mse (below 1:
something beyond the average slice was learnt). `linear_code_error` is the outside peer beside it:
PCA with as many axes as the latent, fitted on the same augmented slices.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from sklearn.decomposition import PCA

from gancbam_jax.models import as_slices
from gancbam_jax.train.batches import draw_batch
from gancbam_jax.train.state import TrainState, all_finite
from gancbam_jax.train.transforms import ClassicAugmentation, classic_augment


def reconstruction_error(outputs: jax.Array, targets: jax.Array, floor_margin: float = 0.0) -> jax.Array:
  """Squared error per pixel of a decoder's linear `outputs` against normalised `targets`.

  With `floor_margin` > 0, a pixel at the floor (target 0) counts as matched by any output at or
  below -floor_margin. The window sets every intensity below its lower edge to exactly 0, so there
  the slice says only "at most the edge" (a censored value); plain MSE pulls the decoder to 0 and
  leaves it drawing small values of either sign, whose positive half shows as speckle once clipped,
  the more so off its training latents. Held a margin below the floor, that background clips to
  exactly 0 like the real one.
  """
  if not floor_margin:
    return jnp.square(outputs - targets)
  return jnp.where(targets > 0, jnp.square(outputs - targets), jnp.square(jax.nn.relu(outputs + floor_margin)))


def reconstruction_loss(params, state: TrainState, images: jax.Array,
                        floor_margin: float = 0.0) -> tuple[jax.Array, dict]:
  """Mean reconstruction error (`reconstruction_error`) in training mode, and the updated BatchNorm statistics."""
  reconstructions, updates = state.apply_fn({"params": params, "batch_stats": state.batch_stats}, images,
                                            train=True, mutable=["batch_stats"])
  return jnp.mean(reconstruction_error(reconstructions, images, floor_margin)), updates


def autoencoder_step(state: TrainState, key: jax.Array, images: jax.Array, labels: jax.Array, *,
                     batch_size: int, augmentation: ClassicAugmentation | None = None, floor_margin: float = 0.0,
                     batch_sharding: NamedSharding | None = None) -> tuple[TrainState, dict]:
  """One Adam step on a batch drawn from the resident training images (augmented when a policy is given)."""
  k_batch, k_augment = jax.random.split(key)
  x, _ = draw_batch(k_batch, images, labels, batch_size, batch_sharding)
  if augmentation is not None:
    x = classic_augment(k_augment, x, augmentation)
  (loss, updates), grads = jax.value_and_grad(reconstruction_loss, has_aux=True)(state.params, state, x, floor_margin)
  state = state.apply_gradients(grads=grads, batch_stats=updates["batch_stats"])
  return state, {"loss": loss, "finite": jnp.isfinite(loss) & all_finite(state.params)}


def per_image_reconstruction_error(state: TrainState, images: jax.Array) -> jax.Array:
  """Mean squared error per image (N,) of the reconstructions as slices (`as_slices`), inference mode (running
  BatchNorm statistics)."""
  reconstructions = as_slices(state.apply_fn(state.variables, images, train=False))
  return jnp.mean(jnp.square(reconstructions - images), axis=(1, 2, 3))


def mean_image_error(train_images: np.ndarray, val_images: np.ndarray) -> float:
  """MSE on validation of predicting every slice by the mean training slice: the floor to beat."""
  mean_image = train_images.mean(axis=0, dtype=np.float64)
  return float(np.mean(np.square(val_images - mean_image)))


# Augmented training slices the linear code is fitted on: 100 draws of each of a fold's ~20 slices of
# siim-ct-dev, 4 of each of the built-in set's 429 (128x128x2): a few seconds of a randomized SVD.
LINEAR_CODE_ROWS = 2048
_augment = jax.jit(classic_augment, static_argnames="policy")


def linear_code_error(key: jax.Array, train_images: np.ndarray, val_images: np.ndarray, components: int,
                      augmentation: ClassicAugmentation | None = None) -> float:
  """Validation MSE of PCA with `components` axes fitted on the training slices, as the autoencoder sees them.

  With a policy, each slice is drawn through the classic augmentation about LINEAR_CODE_ROWS / N
  times, as the autoencoder's batches are. The autoencoder is a nonlinear code of the same size
  trained on the same images: where it reconstructs unseen slices worse than this linear one, it is
  held back by its training, not by the size of its latent.
  """
  fitted = train_images
  if augmentation is not None:
    on_device = jnp.asarray(train_images)
    fitted = np.concatenate([np.asarray(_augment(jax.random.fold_in(key, i), on_device, augmentation))
                             for i in range(max(1, LINEAR_CODE_ROWS // len(train_images)))])
  fitted = fitted.reshape(len(fitted), -1)
  pca = PCA(min(components, *fitted.shape), svd_solver="randomized", random_state=0).fit(fitted)
  flat = val_images.reshape(len(val_images), -1)
  return float(np.mean(np.square(flat - pca.inverse_transform(pca.transform(flat)))))
