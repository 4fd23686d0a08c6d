"""The named methods: GAN-CBAM, the paper's baselines, classic detectors and ablations.

launch/compare.py runs them side by side; a run puts the peers of eval.peers beside its own result.
Each method is the experiment of configs/default.py with a few fields changed, so every method
trains and evaluates through the same pipeline, on the same patient-grouped splits, folds and
seeds, and is thresholded on validation by the same code. Nothing is tuned per method: a method
runs with its published or library-default settings, whichever way that comes out.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

import ml_collections

from gancbam_jax.train.settings import ConfigError


@dataclasses.dataclass(frozen=True)
class Method:
  """A named method: the config fields it changes and, for the paper's four, its Table I row."""

  name: str
  label: str
  kind: str  # "proposed" | "paper baseline" | "classic" | "ablation"
  overrides: dict
  paper_row: str | None = None


METHODS = {m.name: m for m in (
    Method("gan_cbam", "GAN-CBAM (CBAM classifier, BAGAN-balanced)", "proposed", {}, "GAN-CBAM"),
    Method("gda", "GDA (Gaussian of PCA features)", "paper baseline", {"detect.method": "gda"}, "GDA"),
    Method("atr_gan", "ATR-GAN (DCGAN + filter, classifier without CBAM)", "paper baseline",
           {"detect.method": "atr_gan", "model.variant": "baseline"}, "ATR-GAN"),
    Method("aclae_dt", "ConvLSTM (ACLAE-DT)", "paper baseline", {"detect.method": "aclae_dt"}, "ConvLSTM"),
    Method("isolation_forest", "Isolation Forest (PCA features)", "classic", {"detect.method": "isolation_forest"}),
    Method("ocsvm", "One-Class SVM (PCA features)", "classic", {"detect.method": "ocsvm"}),
    Method("random_forest", "random forest (pixels, training split)", "classic", {"detect.method": "random_forest"}),
    Method("no_augmentation", "no augmentation (imbalanced classifier, no classic augmentation)", "ablation",
           {"detect.rebalance": "none", "augment.classifier": False}),
    Method("classic_augmentation", "classic augmentation, no GAN (real minority slices drawn again, transformed)",
           "ablation", {"detect.rebalance": "oversample", "augment.classifier": True}),
    Method("class_weights", "class-weighted loss", "ablation", {"detect.rebalance": "class_weights"}),
    Method("oversample", "plain oversampling", "ablation", {"detect.rebalance": "oversample"}),
    Method("encoder_trunk", "classifier trunk from the pretrained encoder", "ablation",
           {"detect.classifier_init": "encoder"}),
    Method("random_trunk", "classifier trunk from a random initialisation", "ablation",
           {"detect.classifier_init": "random"}),
    Method("no_cbam", "baseline autoencoder without CBAM", "ablation", {"model.variant": "baseline"}),
    Method("attention_gate", "attention-gate autoencoder", "ablation", {"model.variant": "attention_gate"}),
    Method("discriminator", "detection by the D posterior", "ablation", {"detect.method": "discriminator"}),
    Method("reconstruction", "detection by reconstruction error", "ablation", {"detect.method": "reconstruction"}),
    Method("fanogan", "detection by f-AnoGAN (izi_f)", "ablation", {"detect.method": "fanogan"}),
)}


def parse_names(names: str, field: str, known: Mapping = METHODS) -> list[str]:
  """The names of a comma-separated list, each one of `known` (default: the methods), none twice.

  Raises:
    ConfigError: naming `field`, and the known names when one is not among them.
  """
  chosen = [name.strip() for name in names.split(",") if name.strip()]
  unknown = [name for name in chosen if name not in known]
  if not chosen or unknown:
    raise ConfigError(f"config field {field}: {', '.join(unknown) or 'nothing'} is not one of {', '.join(known)}")
  if len(set(chosen)) != len(chosen):
    raise ConfigError(f"config field {field}: lists a name twice ({names})")
  return chosen


# A peer (eval.peers) reuses the run's autoencoder and BAGAN: it may change only what is built on them.
PEER_FIELDS = ("detect.", "augment.classifier")
# configs/default.py's values of the fields the methods change: a peer starts from them, so that it is
# the method it names whatever the run's own detector (a no_augmentation peer of a gda run is still
# the classifier).
METHOD_BASE = {"detect.method": "classifier", "detect.rebalance": "bagan", "detect.synthetic_share": 1.0,
               "augment.classifier": True}


def peer_names(names: str) -> list[str]:
  """The methods of eval.peers, a comma-separated list ("" for none).

  Raises:
    ConfigError: naming eval.peers, for an unknown or repeated name, or a method that needs stages of
      its own (another autoencoder variant): compare those with launch/compare.py.
  """
  if not names.strip():
    return []
  chosen = parse_names(names, "eval.peers")
  own_stages = [name for name in chosen if not all(field.startswith(PEER_FIELDS) for field in METHODS[name].overrides)]
  if own_stages:
    raise ConfigError(f"config field eval.peers: {', '.join(own_stages)} cannot share this run's trained stages (they "
                      "change its model); compare them with launch/compare.py instead")
  return chosen


def peer_config(config: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  """The config of the peer `name` of a run: the run's own, with METHOD_BASE and the method's fields."""
  return with_fields(config, {**METHOD_BASE, **METHODS[name].overrides})


def distinct_values(values, field: str, cast: Callable = float) -> list:
  """`values` cast to numbers; ConfigError names `field` when there are none or one repeats."""
  values = [cast(v) for v in values]
  if not values or len(set(values)) != len(values):
    raise ConfigError(f"config field {field}: give one or more distinct values, got {values}")
  return values


def with_fields(config: ml_collections.ConfigDict, fields: dict) -> ml_collections.ConfigDict:
  """A copy of `config` with dotted fields replaced; a field the config lacks is refused by name.

  ml_collections' own flattened update would add an unknown field silently; a typo must not.
  """
  changed = ml_collections.ConfigDict(config.to_dict())
  for path, value in fields.items():
    *sections, name = path.split(".")
    node = changed
    for section in sections:
      node = node.get(section) if isinstance(node, ml_collections.ConfigDict) else None
    if not isinstance(node, ml_collections.ConfigDict) or name not in node:
      raise ConfigError(f"config field {path} does not exist; check its spelling against configs/default.py")
    node[name] = value
  return changed


def experiment_config(base: ml_collections.ConfigDict, method: Method, seed: int) -> ml_collections.ConfigDict:
  """The experiment config of one method and seed: the base (without its own sections) with the method's fields."""
  return with_fields(base, {**method.overrides, "seed": seed})
