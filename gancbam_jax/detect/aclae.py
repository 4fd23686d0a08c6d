"""The ACLAE-DT baseline (Tayeh et al. 2022): attention-based ConvLSTM autoencoder with dynamic thresholding.

A small image version of the multivariate-time-series detector (METHOD.md): a slice's rows are
the time axis and its column bands the variables. MSCRED's signature matrices (inner products of
the band series over windows of 8, 16 and 32 rows) at T = 5 time points are encoded per time step
by convolutions, summarised over time by ConvLSTMs with temporal attention at two scales and
decoded into the last time point's matrices. The score is their reconstruction error; the
threshold is Hundman et al.'s non-parametric dynamic threshold on normal validation slices.
Trained on normal slices only.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding

from gancbam_jax.batching import map_in_batches
from gancbam_jax.models import Variables
from gancbam_jax.train import parallel
from gancbam_jax.train.batches import draw_batch
from gancbam_jax.train.loop import StageSchedule
from gancbam_jax.train.pipeline import Run
from gancbam_jax.train.state import TrainState, adam, all_finite, create_train_state

STAGE = "aclae_dt"
WINDOWS = (8, 16, 32)  # rows per signature matrix, as MSCRED's three scales
TIME_POINTS = 5
FINE_FEATURES, COARSE_FEATURES = 32, 64
KERNEL = (3, 3)
Z_VALUES = np.arange(2.0, 10.5, 0.5)  # Hundman et al.'s range of threshold multipliers


def signature_matrices(images: jax.Array, bands: int, windows: tuple[int, ...] = WINDOWS,
                       time_points: int = TIME_POINTS) -> jax.Array:
  """MSCRED signature matrices (N, T, bands, bands, len(windows)) of normalised slices (N, S, S, 1).

  The series x[t, i] is row t's mean over column band i. At time point t and window w,
  M[i, j] = sum_{d<w} x[t-d, i] x[t-d, j] / w. The T time points are the last rows spaced by
  (S - max(windows)) // (T - 1), so the longest window fits before the first of them.
  """
  size = images.shape[1]
  if size % bands:
    raise ValueError(f"{bands} column bands do not divide the slice width {size}")
  if time_points < 2 or max(windows) > size:
    raise ValueError(f"need at least 2 time points and windows of at most {size} rows, got {time_points} time points "
                     f"and windows {windows}")
  series = images.mean(axis=-1).reshape(images.shape[0], size, bands, size // bands).mean(axis=-1)  # (N, S, bands)
  step = (size - max(windows)) // (time_points - 1)
  ends = size - 1 - step * np.arange(time_points - 1, -1, -1)
  rows = np.arange(size)
  # One einsum with a constant (T, windows, S) weight: 1/w on the w rows ending at each time point.
  weights = np.stack([np.stack([((rows > end - w) & (rows <= end)) / w for w in windows]) for end in ends])
  return jnp.einsum("kwt,nti,ntj->nkijw", jnp.asarray(weights, images.dtype), series, series)


class AclaeAutoencoder(nn.Module):
  """Signature matrices (N, T, B, B, C) -> reconstruction (N, B, B, C) of the last time point's matrices.

  Per time step Conv 3x3 (32 ch) and Conv 3x3 stride 2 (64 ch, B/2); a ConvLSTM over the T steps
  at each scale, summarised by temporal attention; the decoder upsamples the coarse summary,
  concatenates the fine one and maps to C channels. SELU activations, as in MSCRED. No BatchNorm.
  """

  bands: int
  time_points: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, signatures: jax.Array) -> jax.Array:
    n, time_points, height, width, channels = signatures.shape
    if (time_points, height, width) != (self.time_points, self.bands, self.bands):
      raise ValueError(f"expected signature matrices (N, {self.time_points}, {self.bands}, {self.bands}, C), "
                       f"got {signatures.shape}")
    conv = functools.partial(nn.Conv, kernel_size=KERNEL, padding="SAME", dtype=self.dtype)
    steps = signatures.reshape(-1, height, width, channels)  # every time step through the same encoder
    fine = nn.selu(conv(FINE_FEATURES, name="conv_fine")(steps))
    coarse = nn.selu(conv(COARSE_FEATURES, strides=(2, 2), name="conv_coarse")(fine))
    attended = []
    for features, name in ((fine, "fine"), (coarse, "coarse")):
      sequence = features.reshape(n, time_points, *features.shape[1:])
      cell = nn.ConvLSTMCell(sequence.shape[-1], KERNEL, dtype=self.dtype, name=f"lstm_{name}")
      # Unrolled over the T steps: on XLA's CPU backend the convolution gradients inside a scan's loop
      # ran some 50x slower (28 s against 0.6 s per batch of 64), and T = 5 steps unroll cheaply.
      attended.append(temporal_attention(nn.RNN(cell, unroll=time_points)(sequence)))
    fine_state, coarse_state = attended
    up = nn.selu(nn.ConvTranspose(FINE_FEATURES, KERNEL, strides=(2, 2), padding="SAME", dtype=self.dtype,
                                  name="deconv_coarse")(coarse_state))
    joined = jnp.concatenate([up, fine_state.astype(up.dtype)], axis=-1)
    out = nn.ConvTranspose(channels, KERNEL, padding="SAME", dtype=self.dtype, name="deconv_out")(joined)
    return out.astype(jnp.float32)


def temporal_attention(hidden: jax.Array) -> jax.Array:
  """sum_t alpha_t H_t with alpha = softmax_t(<H_t, H_T> / chi), of hidden states (N, T, h, w, c).

  chi = sqrt(h w c), the scaled dot-product scaling, rather than MSCRED's fixed 5: MSCRED chose 5
  for its own matrix sizes, while <H_t, H_T> grows with the state's size (here with the number of
  bands and with the scale: 8192 and 4096 values at 16 bands), and logits divided by 5 would put
  all weight on the last step.
  """
  hidden = hidden.astype(jnp.float32)
  size = np.prod(hidden.shape[2:])
  logits = jnp.einsum("nt...,n...->nt", hidden, hidden[:, -1]) / np.sqrt(size)
  alpha = jax.nn.softmax(logits, axis=1)
  return jnp.einsum("nt,nt...->n...", alpha, hidden)


def _residuals(apply_fn, variables: Variables, images: jax.Array, bands: int, time_points: int) -> jax.Array:
  """Squared residual (N, B, B, C) of the last signature matrices against their reconstruction."""
  signatures = signature_matrices(images, bands, time_points=time_points)
  return jnp.square(apply_fn(variables, signatures) - signatures[:, -1])


def reconstruction_errors(model: AclaeAutoencoder, variables: Variables, images: jax.Array,
                          bands: int) -> tuple[jax.Array, jax.Array]:
  """Scores (N,), the mean squared error of the last signature matrices, and heatmaps (N, 1, B).

  The heatmap is coarse: entry i is band i's error (mean over j and windows of the squared residual
  of row i), so resized to S x S it marks the column bands the model could not reproduce.
  """
  residual = _residuals(model.apply, variables, images, bands, model.time_points)
  return residual.mean(axis=(1, 2, 3)), residual.mean(axis=(2, 3))[:, None, :]


def aclae_step(state: TrainState, key: jax.Array, images: jax.Array, labels: jax.Array, *, bands: int,
               batch_size: int, batch_sharding: NamedSharding | None = None) -> tuple[TrainState, dict]:
  """One Adam step on the mean squared error of the last signature matrices of a drawn batch."""
  x, _ = draw_batch(key, images, labels, batch_size, batch_sharding)

  def loss_fn(params):
    return _residuals(state.apply_fn, {"params": params}, x, bands, TIME_POINTS).mean()

  loss, grads = jax.value_and_grad(loss_fn)(state.params)
  state = state.apply_gradients(grads=grads)
  return state, {"loss": loss, "finite": jnp.isfinite(loss) & all_finite(state.params)}


def train_aclae(run: Run) -> tuple[TrainState, AclaeAutoencoder]:
  """Trains (or restores) the ACLAE autoencoder on normal training slices; logs the validation error."""
  cfg, train_cfg = run.config.detect, run.config.train
  normal_set = run.normal_set
  model = AclaeAutoencoder(cfg.aclae_bands, TIME_POINTS)
  sample = signature_matrices(jnp.zeros((1, *normal_set.images.shape[1:])), cfg.aclae_bands)
  variables = model.init(run.key(f"{STAGE}-init"), sample)
  state = parallel.replicate(create_train_state(model, variables,
                                                adam(train_cfg.ae_learning_rate, train_cfg.ae_beta1)), run.mesh)
  stage, key = run.stage(STAGE), run.key(STAGE)
  start, state, key = stage.resume(state, key)
  step = run.jit_step(aclae_step, bands=cfg.aclae_bands, batch_size=train_cfg.batch_size)
  score = jax.jit(lambda v, x: reconstruction_errors(model, v, x, cfg.aclae_bands)[0])

  def validation_loss(_, current):
    return {"val_loss": float(np.mean(map_in_batches(functools.partial(score, current.variables), normal_set.val_images,
                                                     train_cfg.batch_size)))}

  state, report = stage.run(state, key, lambda s, k: step(s, k, normal_set.images, normal_set.labels),
                            StageSchedule(cfg.aclae_steps, train_cfg.log_every, train_cfg.checkpoint_every),
                            start, on_log=validation_loss)
  stage.checkpoints.close()
  run.announce(report.line())
  return state, model


def dynamic_threshold(normal_errors: np.ndarray, z_values: np.ndarray = Z_VALUES) -> tuple[float, float]:
  """(threshold, z): Hundman et al. 2018's non-parametric dynamic threshold on normal validation errors.

  For each z, eps = mu + z sigma; with e_a the errors above eps and the rest below,
  objective = (delta_mu / mu + delta_sigma / sigma) / (|e_a| + |E_seq|^2), where delta_mu and
  delta_sigma are how much mean and standard deviation drop when e_a is removed. Hundman et al.
  count E_seq, the contiguous anomalous sequences of a time series; slices are independent, so
  every exceeding slice is its own sequence and |E_seq| = |e_a|. The z of maximal objective among
  those with an exceedance wins; when no z has one, the smallest z, the most sensitive threshold
  that still flags no normal validation slice.
  """
  errors = np.asarray(normal_errors, np.float64).ravel()
  z_values = np.sort(np.asarray(z_values, np.float64))
  if errors.size < 2 or not np.all(np.isfinite(errors)):
    raise ValueError(f"the dynamic threshold needs at least 2 finite validation errors, got {errors.size} values "
                     f"({np.sum(~np.isfinite(errors))} not finite)")
  if z_values.size == 0 or z_values[0] <= 0:
    raise ValueError(f"z_values must be a non-empty set of positive multipliers of sigma, got {z_values}")
  mu, sigma = errors.mean(), errors.std()
  if sigma == 0:
    raise ValueError(f"all {errors.size} validation errors equal {mu:.6g}: with no spread there is no threshold "
                     "to scale")
  best_z, best_objective = z_values[0], -np.inf
  for z in z_values:
    above = errors > mu + z * sigma
    exceedances = int(above.sum())
    if exceedances == 0:
      continue
    below = errors[~above]
    objective = ((mu - below.mean()) / mu + (sigma - below.std()) / sigma) / (exceedances + exceedances ** 2)
    if objective > best_objective:
      best_z, best_objective = z, objective
  return float(mu + best_z * sigma), float(best_z)
