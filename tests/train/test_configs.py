"""Every config is valid, and its docstring gives the command that runs it."""

import importlib
import pathlib

import pytest

from gancbam_jax.methods import with_fields
from gancbam_jax.detect import validate_detection_config
from gancbam_jax.train import ConfigError, validate_config

CONFIGS = sorted(p.stem for p in (pathlib.Path(__file__).resolve().parents[2] / "configs").glob("*.py")
                 if p.stem != "__init__")
# Configs of the launchers that run many experiments; the others are launch/train.py's.
LAUNCHERS = {"compare": "launch/compare.py", "sweep": "launch/sweep.py"}


@pytest.mark.parametrize("name", CONFIGS)
def test_config_is_valid_and_documents_its_command(name):
  module = importlib.import_module(f"configs.{name}")
  validate_config(module.get_config())
  validate_detection_config(module.get_config())
  assert f"python {LAUNCHERS.get(name, 'launch/train.py')} --config configs/{name}.py" in module.__doc__


def test_the_accelerator_config_computes_in_bfloat16_at_128():
  from configs import gpu

  config = gpu.get_config()
  assert (config.model.dtype, config.data.image_size) == ("bfloat16", 128)
  assert config.train.batch_size > 32


@pytest.mark.parametrize("field, value", [("model.dtype", "float16"), ("data.image_size", 96),
                                          ("train.gan_steps", 0), ("train.ae_beta1", 1.0),
                                          ("model.upsample", "nearest"), ("train.generator_layers", "conv"),
                                          ("train.ae_batch_size", -8), ("augment.autoencoder_affine_scale", 10.0),
                                          ("train.gan_anchor_weight", -1.0), ("train.floor_margin", -0.1),
                                          ("augment.mixup_alpha", -0.2), ("augment.mixup_partners", "same")])
def test_unusable_values_are_refused_by_name(field, value):
  from configs import default

  with pytest.raises(ConfigError, match=f"config field {field}"):
    validate_config(with_fields(default.get_config(), {field: value}))
