"""The training pipeline of METHOD.md §3: autoencoder -> class Gaussians -> BAGAN -> augmentation.

`train(config, workdir)` runs every stage that has not finished yet, so calling it again with the
same workdir resumes from the latest checkpoint; `prepare_run` and `TrainedStages` are its parts,
which detection reuses: each detector trains only the stages it needs, and a run prepared with
`restore_only` restores finished stages and refuses to train. The autoencoder and BAGAN stages take a `TrainingSet`, so the normal-only models of
the reconstruction and f-AnoGAN detectors train with the same code. Layout of the workdir:

  config.json            the config of the latest run (run-defining fields may not change)
  split.json, data.json  slice indices per split; split sizes, class counts, Min-Max statistics
  checkpoints/<stage>/   Orbax checkpoints: autoencoder, bagan
  metrics.jsonl, tensorboard/
  plots/                 reconstructions, generated samples per class, augmentation grid
  augmentation/          synthetic.npz (training-only images), summary.json (diversity, memorisation)
  train_summary.json     per-stage steps, wall time, speed and final metrics
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
import zlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from gancbam_jax import models, plotting
from gancbam_jax.compile_cache import compile_cache_directory, use_compile_cache
from gancbam_jax.batching import map_in_batches
from gancbam_jax.train import parallel
from gancbam_jax.train.augment import (SyntheticImages, balancing_counts, diversity_report, generate_class_images,
                                      generate_draws)
from gancbam_jax.train.bagan import Anchor, GanState, bagan_step
from gancbam_jax.train.batches import batching_note
from gancbam_jax.train.checkpoints import StageCheckpoints
from gancbam_jax.train.data import TrainingData, prepare_training_data
from gancbam_jax.train.gaussians import ClassGaussians, fit_class_gaussians
from gancbam_jax.train.loop import IncompleteRunError, Stage, StageReport, StageSchedule
from gancbam_jax.train.metrics_log import MetricsLog
from gancbam_jax.train.pretrain import (autoencoder_step, linear_code_error, mean_image_error,
                                       per_image_reconstruction_error)
from gancbam_jax.train.sample_quality import QUALITY_DRAWS, generated_quality
from gancbam_jax.train.settings import DTYPES, RUN_DEFINING_SECTIONS, ConfigError, changed_fields, validate_config
from gancbam_jax.train.state import TrainState, adam, create_train_state, train_only
from gancbam_jax.train.transforms import ClassicAugmentation, parse_policy

SAMPLES_PER_CLASS = 8


@dataclasses.dataclass(frozen=True)
class TrainingSet:
  """The slices a stage trains on, resident on every device, and validation slices of the same classes."""

  images: jax.Array  # (N, S, S, 1), normalised
  labels: jax.Array  # (N,) indices into class_names
  class_names: tuple[str, ...]
  val_images: np.ndarray

  @property
  def n_classes(self) -> int:
    return len(self.class_names)

  @classmethod
  def on_devices(cls, mesh: jax.sharding.Mesh, images: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...],
                 val_images: np.ndarray) -> "TrainingSet":
    """A training set copied to every device of `mesh`."""
    return cls(parallel.replicate(images, mesh), parallel.replicate(labels, mesh), class_names, val_images)


@dataclasses.dataclass
class Run:
  """What every stage of one training run shares."""

  config: ml_collections.ConfigDict
  workdir: pathlib.Path
  mesh: jax.sharding.Mesh
  data: TrainingData
  log: MetricsLog
  chief: bool
  autoencoder: models.Autoencoder
  train_set: TrainingSet  # every class of the training split
  restore_only: bool = False  # evaluation: restore finished stages, never train

  @property
  def n_classes(self) -> int:
    return len(self.data.class_names)

  @functools.cached_property
  def normal_set(self) -> TrainingSet:
    """The normal training and validation slices only, labelled 0: for the detectors that learn normality."""
    normal = [c for c in range(self.n_classes) if c != self.data.dataset.anomalous_index]
    train_images = self.data.train_images[np.isin(self.data.train_labels, normal)]
    self.announce(batching_note("normal training slices", len(train_images), self.config.train.batch_size))
    return TrainingSet.on_devices(self.mesh, train_images, np.zeros(len(train_images), np.int32), ("normal",),
                                  self.data.val_images[np.isin(self.data.val_labels, normal)])

  @functools.cached_property
  def classic_augmentation(self) -> ClassicAugmentation:
    """The classic augmentation policy of the config's `augment` section."""
    return ClassicAugmentation.from_config(self.config.augment)

  @property
  def autoencoder_augmentation(self) -> ClassicAugmentation | None:
    """The autoencoders' policy: the classic one widened by augment.autoencoder_affine_scale; None when off."""
    augment = self.config.augment
    return self.classic_augmentation.widened(augment.autoencoder_affine_scale) if augment.autoencoder else None

  @property
  def autoencoder_batch_size(self) -> int:
    """train.ae_batch_size, or train.batch_size where it is 0."""
    return self.config.train.ae_batch_size or self.config.train.batch_size

  def key(self, purpose: str) -> jax.Array:
    """A key per purpose, derived from the config's seed (stable across resumes)."""
    return jax.random.fold_in(jax.random.key(self.config.seed), zlib.crc32(purpose.encode()) & 0x7FFFFFFF)

  def stage(self, name: str) -> Stage:
    checkpoints = StageCheckpoints(self.workdir / "checkpoints" / name, self.config.train.max_to_keep)
    meta = {"config": self.config.to_dict(), "normalization": self.data.normalization.to_dict(),
            "class_names": list(self.data.class_names)}
    return Stage(name, checkpoints, self.log, meta, self.chief, self.restore_only)

  def jit_step(self, step_fn, **static):
    """A jitted step (state, key, *data) over this run's mesh, as `parallel.jit_step` makes it."""
    return parallel.jit_step(step_fn, self.mesh, **static)

  def announce(self, line: str | None) -> None:
    """A one-line stage summary on the chief's standard output (nothing for None)."""
    if self.chief and line:
      print(line, flush=True)

  def plot(self, name: str, images_by_class: dict, title: str) -> None:
    if self.chief:
      plotting.save_class_grid(images_by_class, self.workdir / "plots" / name, title=title, per_class=SAMPLES_PER_CLASS,
                               value_range=(0.0, 1.0))


def check_resumable(workdir: pathlib.Path, config: ml_collections.ConfigDict) -> None:
  """Refuses a workdir started with other data, model or seed; logs changed training fields."""
  path = workdir / "config.json"
  if not path.exists():
    return
  saved, current = json.loads(path.read_text()), json.loads(config.to_json())
  changed = changed_fields(saved, current)
  defining = [f for f in changed if f.split(".")[0] in RUN_DEFINING_SECTIONS]
  if defining:
    raise ConfigError(f"{workdir} holds a run with other values of {', '.join(defining)}; its checkpoints do not "
                      "fit this config. Use a new --workdir, or the original values to resume.")
  if changed:
    logging.warning("resuming %s with changed fields: %s", workdir, ", ".join(changed))


def _write_json(run: Run, name: str, value) -> None:
  if run.chief:
    (run.workdir / name).write_text(json.dumps(value, indent=2) + "\n")


_reconstruction_errors = jax.jit(per_image_reconstruction_error)  # compiled once per model and batch shape


def reconstruction_check(state: TrainState, train_set: TrainingSet, batch_size: int) -> dict:
  """Validation MSE of an autoencoder, that of the mean training slice, and their ratio (below 1: it generalises)."""
  errors = map_in_batches(functools.partial(_reconstruction_errors, state), train_set.val_images, batch_size)
  val_loss, reference = float(errors.mean()), mean_image_error(np.asarray(train_set.images), train_set.val_images)
  return {"val_loss": val_loss, "mean_image_val_loss": reference, "val_mse_ratio": val_loss / reference}


def linear_code_check(run: Run, train_set: TrainingSet, mean_image_val_loss: float) -> dict:
  """The autoencoder's outside peer: PCA with latent_dim axes on the slices it trains on (augmented as they are),
  its validation MSE over the mean training slice's (reconstruction_check's reference), the autoencoder's ratio."""
  error = linear_code_error(run.key("linear-code"), np.asarray(train_set.images), train_set.val_images,
                            run.config.model.latent_dim, run.autoencoder_augmentation)
  return {"pca_components": run.config.model.latent_dim, "pca_val_mse_ratio": error / mean_image_val_loss}


def pretrain_autoencoder(run: Run, train_set: TrainingSet, name: str = "autoencoder") -> tuple[TrainState, StageReport]:
  """Stage 1: MSE autoencoder on a training set (classically augmented unless augment.autoencoder is off);
  logs the validation reconstruction error beside the mean training slice's."""
  cfg = run.config.train
  stage, key = run.stage(name), run.key(name)
  variables = models.init_variables(run.autoencoder, run.key(f"{name}-init"))
  tx = adam(cfg.ae_learning_rate, cfg.ae_beta1, schedule=cfg.lr_schedule, steps=cfg.ae_steps,
            weight_decay=cfg.ae_weight_decay)
  state = parallel.replicate(create_train_state(run.autoencoder, variables, tx), run.mesh)
  start, state, key = stage.resume(state, key)
  step = run.jit_step(autoencoder_step, batch_size=run.autoencoder_batch_size,
                      augmentation=run.autoencoder_augmentation, floor_margin=cfg.floor_margin)
  state, report = stage.run(state, key, lambda s, k: step(s, k, train_set.images, train_set.labels),
                            StageSchedule(cfg.ae_steps, cfg.log_every, cfg.checkpoint_every), start,
                            on_log=lambda _, current: reconstruction_check(current, train_set, cfg.batch_size))
  stage.checkpoints.close()
  shown = train_set.val_images[:SAMPLES_PER_CLASS]
  reconstructions = np.asarray(state.apply_fn(state.variables, jnp.asarray(shown), train=False))
  run.plot(f"{name}_reconstructions.png", {"validation slice": shown, "reconstruction": reconstructions},
           f"{name.replace('_', ' ')} after {cfg.ae_steps} steps")
  return state, report


def training_latents(run: Run, autoencoder_state: TrainState, train_set: TrainingSet) -> np.ndarray:
  """The encoder's latents (inference mode) of the training slices, (N, latent_dim)."""
  encode = jax.jit(lambda x: autoencoder_state.apply_fn(autoencoder_state.variables, x, train=False, method="encode"))
  return map_in_batches(encode, np.asarray(train_set.images), run.config.train.batch_size)


def fit_latent_gaussians(run: Run, latents: np.ndarray, train_set: TrainingSet) -> ClassGaussians:
  """Stage 2: N(mu_c, Sigma_c) of the training slices' encoder latents for each training class."""
  return fit_class_gaussians(latents, np.asarray(train_set.labels), train_set.n_classes,
                             run.config.train.gaussian_ridge, train_set.class_names)


def _initial_gan_state(run: Run, autoencoder_state: TrainState, n_classes: int, name: str) -> GanState:
  """Stage 3: G <- decoder, D trunk <- encoder trunk, D head fresh; Adam for D and G's train.generator_layers."""
  cfg = run.config
  generator = models.build_generator(run.autoencoder)
  discriminator = models.build_discriminator(run.autoencoder, n_classes, cfg.model.discriminator_dropout)
  g_vars = models.generator_from_autoencoder(autoencoder_state.variables,
                                             models.init_variables(generator, run.key(f"{name}-generator-init")))
  d_vars = models.trunk_from_autoencoder(autoencoder_state.variables,
                                         models.init_variables(discriminator, run.key(f"{name}-discriminator-init")))
  tx = adam(cfg.train.gan_learning_rate, cfg.train.gan_beta1)
  g_tx = train_only(tx, g_vars["params"], models.GENERATOR_LAYERS[cfg.train.generator_layers])
  return parallel.replicate(GanState(create_train_state(generator, g_vars, g_tx),
                                     create_train_state(discriminator, d_vars, tx)), run.mesh)


def _sample_grid(run: Run, generator: TrainState, gaussians: ClassGaussians, class_names: tuple[str, ...], name: str,
                 step: int) -> None:
  """Generated images per class from fixed latents, so grids of successive steps are comparable."""
  counts = np.full(len(class_names), SAMPLES_PER_CLASS)
  synthetic = generate_class_images(generator, gaussians, run.key("sample-grid"), counts, run.config.train.batch_size,
                                    run.data.image_shape)
  run.plot(f"{name}_samples_step{step:06d}.png",
           {c_name: synthetic.images[synthetic.labels == c] for c, c_name in enumerate(class_names)},
           f"{name.replace('_', ' ')} generator, step {step}")


def train_bagan(run: Run, autoencoder_state: TrainState, train_set: TrainingSet,
                name: str = "bagan") -> tuple[GanState, ClassGaussians, StageReport]:
  """Stages 2-4: class Gaussians (fitted once, frozen in the checkpoint), then adversarial steps."""
  cfg = run.config.train
  stage, key = run.stage(name), run.key(name)
  state = _initial_gan_state(run, autoencoder_state, train_set.n_classes, name)
  n, d = train_set.n_classes, run.config.model.latent_dim
  like = {"mean": np.zeros((n, d), np.float32), "covariance": np.zeros((n, d, d), np.float32),
          "scale": np.zeros((n, d, d), np.float32)}
  # Deterministic (the encoder in inference mode): a resumed run computes the same latents again.
  latents = training_latents(run, autoencoder_state, train_set)
  resumed = stage.restore_latest(state, key, like)
  if resumed:
    start, state, key, saved_gaussians = resumed
    gaussians = ClassGaussians.from_dict(saved_gaussians)
  else:
    stage.require_trainable(0, cfg.gan_steps)
    start, gaussians = 0, fit_latent_gaussians(run, latents, train_set)
    stage.save(0, state, key, gaussians.to_dict())
    _sample_grid(run, state.generator, gaussians, train_set.class_names, name, 0)  # G is still the decoder: the starting point
  step = run.jit_step(bagan_step, batch_size=cfg.batch_size, n_classes=n,
                      policy=parse_policy(run.config.augment.diffaugment))
  mean, scale = parallel.replicate((jnp.asarray(gaussians.mean), jnp.asarray(gaussians.scale)), run.mesh)
  anchor = Anchor(parallel.replicate(jnp.asarray(latents), run.mesh), train_set.images, cfg.gan_anchor_weight,
                  cfg.floor_margin)

  def sample_at_intervals(step_number, current):
    if (cfg.sample_every and step_number % cfg.sample_every == 0) or step_number == cfg.gan_steps:
      _sample_grid(run, current.generator, gaussians, train_set.class_names, name, step_number)
    return {}

  state, report = stage.run(state, key,
                            lambda s, k: step(s, k, train_set.images, train_set.labels, mean, scale, anchor),
                            StageSchedule(cfg.gan_steps, cfg.log_every, cfg.checkpoint_every), start,
                            extras=gaussians.to_dict(), on_log=sample_at_intervals)
  stage.checkpoints.close()
  return state, gaussians, report


def augment_training_set(run: Run, generator: TrainState, gaussians: ClassGaussians) -> tuple[SyntheticImages, dict]:
  """Stage 5: synthetic images until the training classes balance; npz, grid and diversity summary."""
  out = run.workdir / "augmentation"
  path = out / "synthetic.npz"
  generator_step = int(jax.device_get(generator.step))
  if path.exists() and int(np.load(path)["generator_step"]) == generator_step:
    return SyntheticImages.load(path), json.loads((out / "summary.json").read_text())
  if run.restore_only:
    raise IncompleteRunError(f"{path} is missing or older than the generator; finish training first")
  counts = balancing_counts(run.data.train_labels, run.n_classes)
  synthetic = generate_class_images(generator, gaussians, run.key("augment"), counts, run.config.train.batch_size,
                                    run.data.image_shape)
  # As many synthetic slices per class as real ones, in QUALITY_DRAWS draws, for the two-sample test and Fréchet
  # distance.
  matched = generate_draws(generator, gaussians, jax.random.split(run.key("quality"), QUALITY_DRAWS),
                           np.bincount(run.data.train_labels, minlength=run.n_classes), run.config.train.batch_size,
                           run.data.image_shape)
  summary = {"generator_step": generator_step,
             "real": run.data.class_counts(run.data.train_labels),
             "synthetic": run.data.class_counts(synthetic.labels),
             "per_class": diversity_report(run.data.train_images, run.data.train_labels, synthetic,
                                           run.data.class_names, seed=run.config.seed),
             "quality": generated_quality(run.data.train_images, run.data.train_labels,
                                          [(draw.images, draw.labels) for draw in matched], run.data.class_names,
                                          seed=run.config.seed)}
  if run.chief:
    out.mkdir(exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    synthetic.save(path, run.data.class_names, generator_step)  # last: its presence marks the stage done
  grid = {}
  for c, name in enumerate(run.data.class_names):
    grid[f"{name} (real)"] = run.data.train_images[run.data.train_labels == c]
    grid[f"{name} (synthetic)"] = synthetic.images[synthetic.labels == c]
  run.plot("augmentation.png", grid, "training classes after augmentation (synthetic: training only)")
  return synthetic, summary


def _check_same_split(workdir: pathlib.Path, split: dict) -> None:
  """Refuses to evaluate when the data now splits differently from the run's saved split.json."""
  saved = json.loads((workdir / "split.json").read_text())
  if {k: saved.get(k) for k in split} != split:
    raise ConfigError(f"the data no longer gives the split saved in {workdir / 'split.json'} (files added, removed "
                      "or relabelled since training); evaluate on the data the run was trained on")


def prepare_run(config: ml_collections.ConfigDict, workdir: str | pathlib.Path, fold: tuple[int, int] | None = None,
                restore_only: bool = False) -> Run:
  """Checks the config and workdir, loads and splits the data (fold k of K when given), builds the run.

  With `restore_only` (evaluation) the workdir must hold a run with this config and split; nothing
  in it is rewritten.
  """
  validate_config(config)
  use_compile_cache(compile_cache_directory(config))
  parallel.initialize_distributed(config.distributed)
  chief = parallel.is_chief() and not restore_only
  workdir = pathlib.Path(workdir).expanduser().resolve()
  if restore_only and not (workdir / "split.json").exists():
    raise IncompleteRunError(f"{workdir} holds no training run (no split.json); train first with launch/train.py")
  check_resumable(workdir, config)
  mesh = parallel.data_mesh(config.train.num_devices)
  parallel.check_batch_divisible(config.train.batch_size, mesh, "train.batch_size")
  if config.train.ae_batch_size:
    parallel.check_batch_divisible(config.train.ae_batch_size, mesh, "train.ae_batch_size")
  data = prepare_training_data(config.data, progress=chief, fold=fold)
  split = {**data.split.to_dict(), **({"fold": fold[0], "folds": fold[1]} if fold else {})}
  if restore_only:
    _check_same_split(workdir, split)
  run = Run(config=config, workdir=workdir, mesh=mesh, data=data, log=MetricsLog(workdir, enabled=chief), chief=chief,
            autoencoder=models.build_autoencoder(config.model.variant, config.data.image_size, config.model.latent_dim,
                                                 DTYPES[config.model.dtype], config.model.upsample,
                                                 channels=len(config.data.hu_windows)),
            train_set=TrainingSet.on_devices(mesh, data.train_images, data.train_labels, data.class_names,
                                             data.val_images),
            restore_only=restore_only)
  run.announce(batching_note("training split", len(data.train_labels), config.train.batch_size))
  if chief:
    (workdir / "plots").mkdir(parents=True, exist_ok=True)
    _write_json(run, "config.json", json.loads(config.to_json()))
    _write_json(run, "split.json", split)
    _write_json(run, "data.json", data.summary())
  return run


class TrainedStages:
  """The training stages of a run, each trained (or restored) the first time something asks for it.

  A detector takes only what it needs: the feature baselines none, the class-weighted classifier
  the autoencoder, the BAGAN classifier everything. Each stage finished adds its report to
  `summary` and rewrites train_summary.json.
  """

  def __init__(self, run: Run):
    self._run = run
    self.summary = {"devices": [str(d) for d in run.mesh.devices.flat], "data": run.data.summary(), "stages": []}

  def _record(self, **entries) -> None:
    for key, value in entries.items():
      if key == "stages":
        self.summary["stages"].append(value)
      else:
        self.summary[key] = value
    _write_json(self._run, "train_summary.json", self.summary)

  @functools.cached_property
  def autoencoder(self) -> TrainState:
    run = self._run
    state, report = pretrain_autoencoder(run, run.train_set)
    run.announce(report.line())
    # Recomputed, not read from the report: a restored stage reports no metrics.
    check = reconstruction_check(state, run.train_set, run.config.train.batch_size)
    self._record(stages=dataclasses.asdict(report),
                 autoencoder={**check, **linear_code_check(run, run.train_set, check["mean_image_val_loss"])})
    return state

  @functools.cached_property
  def _bagan(self) -> tuple[GanState, ClassGaussians]:
    gan, gaussians, report = train_bagan(self._run, self.autoencoder, self._run.train_set)
    self._run.announce(report.line())
    self._record(stages=dataclasses.asdict(report))
    return gan, gaussians

  @property
  def gan(self) -> GanState:
    return self._bagan[0]

  @functools.cached_property
  def synthetic(self) -> SyntheticImages:
    synthetic, augmentation = augment_training_set(self._run, self.gan.generator, self._bagan[1])
    self._run.announce(f"stage augmentation: {augmentation['synthetic']} synthetic training images "
                       f"(real: {augmentation['real']})")
    self._record(augmentation=augmentation)
    return synthetic


def train_stages(run: Run) -> TrainedStages:
  """Runs (or restores) the autoencoder, BAGAN and augmentation stages of a prepared run."""
  trained = TrainedStages(run)
  _ = trained.synthetic  # augmentation needs BAGAN, which needs the autoencoder: every stage runs
  return trained


def train(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> dict:
  """Runs (or resumes) every training stage in `workdir`; returns the summary also written there."""
  run = prepare_run(config, workdir)
  try:
    return train_stages(run).summary
  finally:
    run.log.close()
