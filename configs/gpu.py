"""Accelerator configuration: 128x128 slices, bfloat16 compute, larger batches and longer training.

  python launch/train.py --config configs/gpu.py --workdir runs/gpu
On several devices (or hosts, with config.distributed=True) the batch is split over all of them;
keep train.batch_size a multiple of the device count.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.data.image_size = 128
  config.data.phantom.n = 1200
  config.model.dtype = "bfloat16"
  config.train.batch_size = 128
  config.train.ae_learning_rate = 5e-5  # BAGAN's, with steps enough for it
  config.train.ae_steps = 3000
  config.train.gan_steps = 3000
  # 3,000 steps of 128 pass over the built-in training split about 450 times, where a small set was
  # memorised without augmentation (not yet measured on a device).
  config.augment.autoencoder = True
  config.train.log_every = 50
  config.train.checkpoint_every = 500
  config.train.sample_every = 500
  return config
