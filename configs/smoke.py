"""Smoke configuration: the whole pipeline, training to report, in seconds on a CPU, for tests.

  python launch/train.py --config configs/smoke.py --workdir /tmp/gancbam-smoke
"""

from configs import default


def get_config():
  config = default.get_config()
  config.data.phantom.n = 48
  config.data.image_size = 64  # the tests' speed; the default is 128
  config.data.phantom.preset = "easy"
  config.data.split.val_fraction = 0.2
  config.data.split.test_fraction = 0.2
  config.model.latent_dim = 16
  config.train.batch_size = 8
  config.train.ae_steps = 6
  config.train.gan_steps = 4
  config.train.log_every = 2
  config.train.checkpoint_every = 2
  config.train.sample_every = 2
  config.augment.autoencoder = True  # as configs/siim_ct.py for tens of slices; resume is tested augmented
  config.detect.classifier_epochs = 2
  config.detect.encoder_steps = 4
  config.detect.atr_gan_steps = 4
  config.detect.aclae_steps = 4
  config.eval.bootstrap = 100
  config.eval.timing_repeats = 3
  config.eval.peers = ""  # the tests that need peers ask for them
  return config
