"""The smoke config end to end: artifacts, augmentation, 1 vs 4 devices, resume, NaN stop, refusals."""

import json
import shutil

import jax
import numpy as np
import pytest

from configs import smoke
from gancbam_jax.train import ConfigError, NonFiniteLossError, fakes_per_batch, pretrain, train
from gancbam_jax.train.augment import SyntheticImages
from gancbam_jax.train.checkpoints import StageCheckpoints
from gancbam_jax.train.metrics_log import read_metrics
from gancbam_jax.train.pipeline import TrainedStages, prepare_run, pretrain_autoencoder
from gancbam_jax.train.transforms import ClassicAugmentation

# 1 and 4 devices sum gradients and batch statistics in different orders, so they differ in the
# last bits. On the first step (same parameters, same batch) that is all: within 1e-6. The
# difference then grows about tenfold per step, because Adam's first updates (about lr * sign(g))
# turn rounding-level differences of near-zero gradients into full-size updates: measured, 3e-5
# after the second step and at most 3 % over the smoke run's ten steps.
FIRST_STEP_RTOL = 1e-6
SECOND_STEP_RTOL = 1e-3
RUN_RTOL = 1e-1
LOSSES = ("loss", "val_loss", "d_loss", "g_loss")


def smoke_config(**train_overrides):
  config = smoke.get_config()
  config.train.log_every = 1
  for name, value in train_overrides.items():
    setattr(config.train, name, value)
  return config


@pytest.fixture(scope="module")
def runs(dataset_cache, tmp_path_factory):
  """Workdir and summary of the smoke config trained on 1 device and on 4 simulated devices."""
  del dataset_cache
  trained = {}
  for devices in (1, 4):
    workdir = tmp_path_factory.mktemp(f"smoke-{devices}dev")
    trained[devices] = workdir, train(smoke_config(num_devices=devices), workdir)
  return trained


def test_run_writes_metrics_checkpoints_plots_and_summary(runs):
  workdir, summary = runs[1]
  config = smoke_config()
  for stage, steps in (("autoencoder", config.train.ae_steps), ("bagan", config.train.gan_steps)):
    assert [r["step"] for r in read_metrics(workdir, stage)] == list(range(1, steps + 1))
    assert StageCheckpoints(workdir / "checkpoints" / stage).latest_step() == steps
  assert {r["stage"] for r in read_metrics(workdir)} == {"autoencoder", "bagan"}
  assert list((workdir / "tensorboard").glob("events.out.tfevents.*"))
  plots = {p.name for p in (workdir / "plots").iterdir()}
  assert {"autoencoder_reconstructions.png", "augmentation.png", "bagan_samples_step000004.png"} <= plots
  assert [s["stage"] for s in summary["stages"]] == ["autoencoder", "bagan"]
  assert all(s["wall_s"] > 0 for s in summary["stages"])
  assert summary["autoencoder"]["pca_components"] == config.model.latent_dim
  assert 0 < summary["autoencoder"]["pca_val_mse_ratio"] < 2
  assert json.loads((workdir / "train_summary.json").read_text())["augmentation"] == summary["augmentation"]


def test_split_is_saved_and_disjoint(runs):
  split = json.loads((runs[1][0] / "split.json").read_text())
  train_idx, val_idx, test_idx = (set(split[k]) for k in ("train", "val", "test"))
  assert train_idx and val_idx and test_idx
  assert not (train_idx & val_idx or train_idx & test_idx or val_idx & test_idx)


def test_discriminator_batches_held_exactly_one_third_fakes(runs):
  batch = smoke_config().train.batch_size
  f = fakes_per_batch(batch, 2)
  fractions = [r["d_fake_fraction"] for r in read_metrics(runs[1][0], "bagan")]
  assert fractions == [pytest.approx(f / (batch + f), abs=1e-7)] * smoke_config().train.gan_steps


def test_the_generators_anchor_term_is_logged_at_every_step(runs):
  anchor_errors = [r["g_anchor_mse"] for r in read_metrics(runs[1][0], "bagan")]
  assert len(anchor_errors) == smoke_config().train.gan_steps and all(0 < e < 1 for e in anchor_errors)


def test_augmentation_balances_the_training_classes(runs):
  workdir, summary = runs[1]
  real, synthetic = summary["augmentation"]["real"], summary["augmentation"]["synthetic"]
  totals = {name: real[name] + synthetic[name] for name in real}
  assert len(set(totals.values())) == 1
  assert synthetic[max(real, key=real.get)] == 0
  images = SyntheticImages.load(workdir / "augmentation" / "synthetic.npz")
  assert len(images.labels) == sum(synthetic.values())
  config = smoke_config()
  size, channels = config.data.image_size, len(config.data.hu_windows)
  assert images.images.shape[1:] == (size, size, channels)
  assert images.images.min() >= 0.0 and images.images.max() <= 1.0
  per_class = summary["augmentation"]["per_class"]
  assert set(per_class) == set(real)


def test_one_and_four_devices_give_the_same_losses(runs):
  one, four = (read_metrics(runs[d][0]) for d in (1, 4))
  assert [(r["stage"], r["step"]) for r in one] == [(r["stage"], r["step"]) for r in four]
  assert [(r["stage"], r["step"]) for r in one[:2]] == [("autoencoder", 1), ("autoencoder", 2)]
  assert four[0]["loss"] == pytest.approx(one[0]["loss"], rel=FIRST_STEP_RTOL)
  assert four[1]["loss"] == pytest.approx(one[1]["loss"], rel=SECOND_STEP_RTOL)
  for a, b in zip(one, four):
    for name in LOSSES:
      if name in a:
        assert b[name] == pytest.approx(a[name], rel=RUN_RTOL), (a["stage"], a["step"], name)
  assert len(runs[4][1]["devices"]) == 4 and len(runs[1][1]["devices"]) == 1


def test_rerunning_a_finished_workdir_trains_nothing(runs):
  workdir, _ = runs[1]
  before = (workdir / "metrics.jsonl").read_text()
  summary = train(smoke_config(num_devices=1), workdir)
  assert all(s["first_step"] == s["last_step"] for s in summary["stages"])
  assert (workdir / "metrics.jsonl").read_text() == before


def test_a_nan_stops_the_run_naming_stage_and_step_and_keeps_the_last_good_checkpoint(runs, tmp_path):
  finished, _ = runs[1]
  # Start from the finished autoencoder stage; an infinite learning rate makes BAGAN's first update non-finite.
  shutil.copytree(finished / "checkpoints" / "autoencoder", tmp_path / "checkpoints" / "autoencoder")
  shutil.copy(finished / "config.json", tmp_path / "config.json")
  with pytest.raises(NonFiniteLossError, match=r"stage 'bagan', step 1: .*last good checkpoint \(step 0\)") as error:
    train(smoke_config(num_devices=1, gan_learning_rate=float("inf")), tmp_path)
  assert (error.value.stage, error.value.step) == ("bagan", 1)
  assert StageCheckpoints(tmp_path / "checkpoints" / "bagan").latest_step() == 0


def test_bfloat16_compute_trains_with_float32_parameters(dataset_cache, tmp_path):
  del dataset_cache
  config = smoke_config(num_devices=1, gan_steps=2)
  config.model.dtype = "bfloat16"  # configs/gpu.py's compute dtype, checked here on CPU
  run = prepare_run(config, tmp_path)
  try:
    stages = TrainedStages(run)
    _ = stages.gan  # the autoencoder, G and D; the classifier is D's trunk with another head
  finally:
    run.log.close()
  assert all(np.isfinite(v) for s in stages.summary["stages"] for v in s["final_metrics"].values())
  checkpoints = StageCheckpoints(tmp_path / "checkpoints" / "bagan")
  restored = checkpoints.read_arrays(checkpoints.latest_step())
  dtypes = {np.asarray(leaf).dtype for leaf in jax.tree.leaves(restored["train"]["generator"]["params"])}
  assert dtypes == {np.dtype(np.float32)}


def test_a_workdir_of_another_dataset_is_refused(tmp_path):
  config = smoke_config()
  (tmp_path / "config.json").write_text(config.to_json())
  config.data.phantom.n = 60
  with pytest.raises(ConfigError, match="data.phantom.n"):
    train(config, tmp_path)


def test_a_batch_larger_than_the_training_split_is_drawn_with_replacement_and_said(dataset_cache, tmp_path, capsys):
  """The paper's 100 slices leave training splits smaller than a batch: the run goes on and says how it batches."""
  del dataset_cache
  run = prepare_run(smoke_config(batch_size=64), tmp_path)
  try:
    n_train = len(run.data.train_labels)
    assert n_train < 64
    assert (f"training split: {n_train} slices, fewer than a batch of 64; each batch is drawn with replacement"
            in capsys.readouterr().out)
  finally:
    run.log.close()


def test_the_autoencoder_draws_its_own_batch_through_its_widened_policy(dataset_cache, tmp_path, monkeypatch):
  del dataset_cache
  config = smoke_config(ae_batch_size=4, ae_steps=2)
  config.augment.autoencoder_affine_scale = 2.0
  batches, policies = [], []
  draw, augment = pretrain.draw_batch, pretrain.classic_augment
  monkeypatch.setattr(pretrain, "draw_batch", lambda key, images, labels, size, sharding: (
      batches.append(size), draw(key, images, labels, size, sharding))[1])
  monkeypatch.setattr(pretrain, "classic_augment", lambda key, images, policy: (
      policies.append(policy), augment(key, images, policy))[1])
  run = prepare_run(config, tmp_path)
  try:
    pretrain_autoencoder(run, run.train_set)
  finally:
    run.log.close()
  assert set(batches) == {4}  # traced once per compilation
  assert set(policies) == {ClassicAugmentation.from_config(config.augment).widened(2.0)}
  assert policies[0].rotation_deg == 2 * config.augment.rotation_deg
