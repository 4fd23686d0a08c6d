"""BAGAN's adversarial step: the D batch's fake fraction, G's targets, what each step may change, what G is scored by,
and its split over devices."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gancbam_jax import models
from gancbam_jax.train import bagan as bagan_module
from gancbam_jax.train import parallel
from gancbam_jax.train.bagan import (
    Anchor,
    GanState,
    bagan_step,
    conditioning_classes,
    discriminator_batch,
    discriminator_logits,
    discriminator_update,
    fakes_per_batch,
    generator_loss,
)
from gancbam_jax.train.batches import draw_batch
from gancbam_jax.train.gaussians import fit_class_gaussians
from gancbam_jax.train.state import adam, create_train_state, train_only

BATCH = 8
N_CLASSES = 2
LATENT = 8


@pytest.mark.parametrize("batch_size, n_classes", [(8, 2), (32, 2), (33, 2), (30, 3), (7, 4)])
def test_fake_fraction_of_the_discriminator_batch_is_exactly_f_over_b_plus_f(batch_size, n_classes):
  f = fakes_per_batch(batch_size, n_classes)
  assert f == math.ceil(batch_size / n_classes)
  real = jnp.zeros((batch_size, 4, 4, 1))
  labels = jnp.asarray(np.arange(batch_size) % n_classes, jnp.int32)
  _, targets = discriminator_batch(real, labels, jnp.ones((f, 4, 4, 1)), n_classes)
  n_fake = int(jnp.sum(targets == models.fake_label(n_classes)))
  assert n_fake == f and len(targets) == batch_size + f
  np.testing.assert_array_equal(np.asarray(targets[:batch_size]), np.asarray(labels))


@pytest.mark.parametrize("batch_size, n_classes, devices, fakes", [(16, 2, 4, 8), (8, 3, 4, 4), (24, 2, 8, 16),
                                                                   (16, 2, 8, 8)])
def test_fakes_are_rounded_up_to_split_evenly_over_the_devices(batch_size, n_classes, devices, fakes):
  assert fakes_per_batch(batch_size, n_classes, devices) == fakes


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_generator_targets_are_real_classes_never_fake(n_classes):
  drawn = np.concatenate([np.asarray(conditioning_classes(jax.random.key(s), 1000, n_classes)) for s in range(20)])
  assert drawn.max() < models.fake_label(n_classes)
  assert set(drawn.tolist()) == set(range(n_classes))


@pytest.fixture(scope="module")
def gan():
  """A small BAGAN initialised from a fresh autoencoder, class Gaussians and a labelled image set."""
  autoencoder = models.build_autoencoder("cbam", 64, LATENT)
  ae_vars = models.init_variables(autoencoder, jax.random.key(0))
  generator, discriminator = models.build_generator(autoencoder), models.build_discriminator(autoencoder, N_CLASSES)
  g_vars = models.generator_from_autoencoder(ae_vars, models.init_variables(generator, jax.random.key(1)))
  d_vars = models.trunk_from_autoencoder(ae_vars, models.init_variables(discriminator, jax.random.key(2)))
  state = GanState(create_train_state(generator, g_vars, adam(1e-3, 0.5)),
                   create_train_state(discriminator, d_vars, adam(1e-3, 0.5)))
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.uniform(size=(24, 64, 64, 1)).astype(np.float32))
  labels = jnp.asarray(np.arange(24) % N_CLASSES, jnp.int32)
  gaussians = fit_class_gaussians(rng.normal(size=(24, LATENT)), np.asarray(labels), N_CLASSES)
  return state, images, labels, jnp.asarray(gaussians.mean), jnp.asarray(gaussians.scale)


@pytest.fixture(scope="module")
def stepped(gan):
  state, images, labels, mean, scale = gan
  step = jax.jit(functools.partial(bagan_step, batch_size=BATCH, n_classes=N_CLASSES))
  new_state, metrics = step(state, jax.random.key(7), images, labels, mean, scale)
  return new_state, jax.device_get(metrics)


def test_step_reports_the_exact_fake_fraction_and_finite_losses(stepped):
  _, metrics = stepped
  f = fakes_per_batch(BATCH, N_CLASSES)
  assert metrics["d_fake_fraction"] == pytest.approx(f / (BATCH + f), abs=1e-7)
  assert metrics["finite"] and np.isfinite(metrics["d_loss"]) and np.isfinite(metrics["g_loss"])


def _same(a, b) -> bool:
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_step_moves_both_players(gan, stepped):
  state, new_state = gan[0], stepped[0]
  assert not _same(state.generator.params, new_state.generator.params)
  assert not _same(state.discriminator.params, new_state.discriminator.params)
  assert int(new_state.step) == 1


def test_a_dense_only_generator_moves_its_dense_layers_and_keeps_the_decoders_convolutions(gan):
  state, images, labels, mean, scale = gan
  dense = models.GENERATOR_LAYERS["dense"]
  tx = train_only(adam(1e-3, 0.5), state.generator.params, dense)
  generator = state.generator.replace(tx=tx, opt_state=tx.init(state.generator.params))
  step = jax.jit(functools.partial(bagan_step, batch_size=BATCH, n_classes=N_CLASSES))
  new_state, _ = step(state.replace(generator=generator), jax.random.key(7), images, labels, mean, scale)
  before, after = state.generator.params, new_state.generator.params
  assert set(before) == set(models.GENERATOR_LAYERS["all"])
  for layer in before:
    assert _same(before[layer], after[layer]) == (layer not in dense), layer


def test_generator_pass_leaves_the_discriminator_as_its_own_step_made_it(gan):
  """D after the whole step equals D after the D step alone: the G pass's D statistics are discarded.

  Both come out of one program: compiled apart, XLA may fuse the same D step differently in each and round
  differently in the last bit (it does with the elemental fusion emitter the tests compile with)."""
  def whole_step_and_d_step(state, key, images, labels, mean, scale):
    stepped, _ = bagan_step(state, key, images, labels, mean, scale, batch_size=BATCH, n_classes=N_CLASSES)
    k_batch, k_discriminator, _ = jax.random.split(key, 3)
    x, y = draw_batch(k_batch, images, labels, BATCH)
    d_only, _ = discriminator_update(state.generator, state.discriminator, x, y, k_discriminator, mean, scale,
                                     n_classes=N_CLASSES)
    return stepped.discriminator, d_only

  state, images, labels, mean, scale = gan
  after_step, d_only = jax.jit(whole_step_and_d_step)(state, jax.random.key(7), images, labels, mean, scale)
  assert _same(d_only.params, after_step.params)
  assert _same(d_only.batch_stats, after_step.batch_stats)


def _fakes_and_real_batch(gan, seed: int = 3):
  state, images, labels, mean, scale = gan
  x, y = draw_batch(jax.random.key(seed), images, labels, BATCH)
  classes = conditioning_classes(jax.random.key(seed + 1), fakes_per_batch(BATCH, N_CLASSES), N_CLASSES)
  z = jax.random.normal(jax.random.key(seed + 2), (len(classes), LATENT))
  return state, x, y, z, classes


@pytest.mark.parametrize("policy", [(), ("brightness", "contrast", "translation", "cutout")])
def test_the_generator_is_scored_by_the_function_the_discriminator_step_trains(gan, policy):
  """G's loss is D's training-mode cross-entropy on G's fakes inside a batch composed like D's own: real batch
  first, then F fakes, through the same DiffAugment draw. A G scored on a batch of fakes alone (BatchNorm
  statistics of fakes only) would be fooling a network D never is."""
  state, x, y, z, classes = _fakes_and_real_batch(gan)
  key = jax.random.key(11)
  loss, _ = generator_loss(state.generator.params, state.generator, state.discriminator, x, y, z, classes, key,
                           N_CLASSES, policy)
  fakes, _ = state.generator.apply_fn(state.generator.variables, z, train=True, mutable=["batch_stats"])
  fakes = models.as_slices(fakes)
  d_batch, _ = discriminator_batch(x, y, fakes, N_CLASSES)
  d_logits, _ = discriminator_logits(state.discriminator, state.discriminator.params, d_batch, key, policy)
  expected = optax.softmax_cross_entropy_with_integer_labels(d_logits[BATCH:], classes).mean()
  assert float(loss) == pytest.approx(float(expected), rel=1e-5)
  alone, _ = state.discriminator.apply_fn(state.discriminator.variables, fakes, train=True, mutable=["batch_stats"])
  fakes_alone = optax.softmax_cross_entropy_with_integer_labels(alone, classes).mean()
  assert abs(float(fakes_alone) - float(expected)) > 1e-3  # the old, fakes-only batch scores G differently


def test_the_discriminator_is_shown_the_fakes_in_the_real_slices_range(gan, monkeypatch):
  """G's linear output draws values outside [0, 1] (the fresh decoder here); D must see them clipped, as the
  classifier does, in both steps, or it could tell fakes by pixels that no real slice has."""
  state, x, y, z, classes = _fakes_and_real_batch(gan)
  raw, _ = state.generator.apply_fn(state.generator.variables, z, train=True, mutable=["batch_stats"])
  assert float(jnp.min(raw)) < 0.0
  shown = []

  def recording_batch(real, labels, fakes, n_classes):
    shown.append(fakes)
    return discriminator_batch(real, labels, fakes, n_classes)

  monkeypatch.setattr(bagan_module, "discriminator_batch", recording_batch)
  discriminator_update(state.generator, state.discriminator, x, y, jax.random.key(6), gan[3], gan[4], N_CLASSES)
  generator_loss(state.generator.params, state.generator, state.discriminator, x, y, z, classes, jax.random.key(5),
                 N_CLASSES)
  assert len(shown) == 2
  for fakes in shown:
    assert 0.0 <= float(jnp.min(fakes)) and float(jnp.max(fakes)) <= 1.0


def test_the_generator_loss_sees_the_real_batch_beside_its_fakes(gan):
  state, x, y, z, classes = _fakes_and_real_batch(gan)
  key = jax.random.key(5)
  args = (state.generator.params, state.generator, state.discriminator)
  loss, _ = generator_loss(*args, x, y, z, classes, key, N_CLASSES)
  other_real, _ = generator_loss(*args, jnp.flip(x, axis=1), y, z, classes, key, N_CLASSES)
  assert float(loss) != pytest.approx(float(other_real), rel=1e-4)


def _anchor(gan, weight: float) -> Anchor:
  """The fixture's slices paired with latents of their own, as the frozen encoder's would be."""
  images = gan[1]
  return Anchor(jax.random.normal(jax.random.key(21), (images.shape[0], LATENT)), images, weight)


def _anchor_error(generator, anchor: Anchor) -> float:
  decoded = generator.apply_fn(generator.variables, anchor.latents, train=False)
  return float(jnp.mean(jnp.square(decoded - anchor.images)))


def test_an_anchor_of_weight_zero_leaves_the_step_as_bagans(gan, stepped):
  state, images, labels, mean, scale = gan
  step = jax.jit(functools.partial(bagan_step, batch_size=BATCH, n_classes=N_CLASSES))
  new_state, metrics = step(state, jax.random.key(7), images, labels, mean, scale, _anchor(gan, 0.0))
  assert _same(new_state.generator.params, stepped[0].generator.params)
  assert float(metrics["g_loss"]) == float(stepped[1]["g_loss"]) and "g_anchor_mse" not in metrics


def test_the_anchor_pulls_the_generator_towards_the_real_slices_of_its_latents(gan):
  """Twenty steps with the anchor halve G's error in decoding the anchor latents into their slices, and
  leave it below that of twenty steps of BAGAN's loss alone; the step logs the term it minimises."""
  state, images, labels, mean, scale = gan
  step = jax.jit(functools.partial(bagan_step, batch_size=BATCH, n_classes=N_CLASSES))
  anchor, errors = _anchor(gan, 100.0), {}
  for weight in (0.0, 100.0):
    current = state
    for s in range(20):
      current, metrics = step(current, jax.random.key(s), images, labels, mean, scale, _anchor(gan, weight))
    errors[weight] = _anchor_error(current.generator, anchor)
  assert errors[100.0] < 0.5 * _anchor_error(state.generator, anchor)
  assert errors[100.0] < errors[0.0]
  assert np.isfinite(float(metrics["g_anchor_mse"])) and bool(metrics["finite"])


def _data_parallel_step(gan, devices: int):
  state, images, labels, mean, scale = gan
  mesh = parallel.data_mesh(devices)
  step = parallel.jit_step(bagan_step, mesh, batch_size=BATCH, n_classes=N_CLASSES)
  args = (parallel.replicate(state, mesh), jax.random.key(7), *parallel.replicate((images, labels, mean, scale), mesh))
  return step, args


def test_each_device_generates_and_scores_only_its_share_of_the_batch(gan):
  """On 4 devices the same global batch costs each device a quarter of the FLOPs (XLA's count of the
  partitioned program): real images, latents, fakes and D's batches are all split, none replicated."""
  flops = {}
  for devices in (1, 4):
    step, args = _data_parallel_step(gan, devices)
    flops[devices] = step.lower(*args).compile().cost_analysis()["flops"]
  assert flops[4] / flops[1] == pytest.approx(1 / 4, abs=0.02)


def test_a_step_split_over_four_devices_computes_what_one_device_does(gan, stepped):
  step, args = _data_parallel_step(gan, 4)
  new_state, metrics = step(*args)
  reference_state, reference = stepped
  f = fakes_per_batch(BATCH, N_CLASSES, 4)
  assert metrics["d_fake_fraction"] == pytest.approx(f / (BATCH + f), abs=1e-7)
  # Summation order differs across devices (as in the pipeline's 1-vs-4-device test).
  for name in ("d_loss", "g_loss"):
    assert float(metrics[name]) == pytest.approx(float(reference[name]), rel=1e-4)
  # Adam's first step moves every parameter by about +-lr, the sign of its gradient: the sign of a gradient
  # near zero may flip with the summation order, anything else computed differently would flip many.
  sharded, single = (np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(s.generator.params)])
                     for s in (new_state, reference_state))
  assert np.mean(~np.isclose(sharded, single, rtol=0, atol=1e-6)) < 0.01
