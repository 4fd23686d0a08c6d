"""Comparison of GAN-CBAM with the paper's baselines, classic detectors and its own ablations.

Every method runs the experiment of configs/default.py with its own fields changed
(gancbam_jax/methods.py), on the same 5 patient-grouped folds and seeds:
  python launch/compare.py --config configs/compare.py --workdir runs/compare
  python launch/compare.py --config configs/compare.py --workdir runs/compare --config.compare.methods=gan_cbam,gda
On the paper's dataset (configs/siim_ct.py as the experiment):
  python launch/compare.py --config configs/compare.py:siim_ct --config.data.root=/path/to/siim-medical-images \
      --workdir runs/compare-siim --config.compare.methods=gan_cbam,random_forest,no_augmentation,classic_augmentation
About 16 methods x 5 folds x 1 to 7 minutes on a 2-core CPU (the feature baselines take seconds);
configs/gpu.py's sizes on an accelerator. Rerunning with the same --workdir resumes.
"""

import importlib

import ml_collections

ALL_METHODS = ("gan_cbam,random_forest,gda,atr_gan,aclae_dt,isolation_forest,ocsvm,no_augmentation,"
               "classic_augmentation,class_weights,oversample,no_cbam,attention_gate,discriminator,reconstruction,fanogan")


def get_config(experiment: str = "default"):
  """The comparison of the experiment configs/<experiment>.py (default: the built-in synthetic CT)."""
  config = importlib.import_module(f"configs.{experiment}").get_config()
  config.eval.folds = 5
  config.eval.bootstrap = 0  # folds give the spread; per-fold bootstrap intervals would not be reported
  config.eval.peers = ""  # every method is a row of its own
  config.compare = ml_collections.ConfigDict()
  config.compare.methods = ALL_METHODS  # comma-separated names of gancbam_jax.compare.METHODS, in table order
  config.compare.seeds = (0,)  # each seed repeats every fold with other initialisations and batches
  return config
