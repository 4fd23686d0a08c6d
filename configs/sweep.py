"""Robustness sweeps on the built-in synthetic CT: noise, imbalance, lesion diameter and lesion contrast.

  python launch/sweep.py --config configs/sweep.py --workdir runs/sweep
  python launch/sweep.py --config configs/sweep.py --workdir runs/sweep --config.sweep.factors=imbalance

Each value of each factor trains and evaluates every method of sweep.methods on its own dataset
(3 patient-grouped folds). Sized for about an hour per factor on a 2-core CPU with the default
methods; rerunning with the same --workdir resumes.
"""

import ml_collections

from configs import default


def get_config():
  config = default.get_config()
  config.eval.folds = 3
  config.eval.bootstrap = 0
  config.eval.peers = ""  # the sweep's methods are its rows
  config.sweep = ml_collections.ConfigDict()
  config.sweep.methods = "gan_cbam,no_augmentation,gda,isolation_forest"
  config.sweep.seeds = (0,)
  config.sweep.factors = "noise,imbalance,lesion_diameter,contrast"
  config.sweep.levels = ml_collections.ConfigDict()
  config.sweep.levels.noise = (5.0, 15.0, 30.0, 60.0)  # HU; the medium preset draws 10-20
  config.sweep.levels.imbalance = (0.05, 0.1, 0.2, 0.5)  # u of BAGAN's imbalance protocol
  config.sweep.levels.lesion_diameter = (4.0, 8.0, 16.0, 32.0)  # mm; the medium preset draws 8-45
  config.sweep.levels.contrast = (0.25, 0.5, 1.0, 2.0)  # times the medium preset's lesion contrast
  return config
