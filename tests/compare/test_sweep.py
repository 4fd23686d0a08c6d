"""launch/sweep.py: each factor value gets its own data, every method runs at every value, plots per metric."""

import json

import pytest

from configs import smoke
from configs import sweep as sweep_config
from gancbam_jax.compare import FACTORS, sweep
from gancbam_jax.data.source import label_meaning, phantom_name, phantom_parameters
from gancbam_jax.train import ConfigError, validate_config


def _smoke_sweep(factors: str, **values):
  config = smoke.get_config()
  config.eval.bootstrap = 0
  config.sweep = sweep_config.get_config().sweep
  config.sweep.methods = "gda,ocsvm"
  config.sweep.factors = factors
  for name, chosen in values.items():
    config.sweep.levels[name] = chosen
  return config


def test_a_contrast_sweep_trains_every_method_on_data_generated_at_each_value(dataset_cache, tmp_path):
  del dataset_cache
  results = sweep(_smoke_sweep("contrast", contrast=(0.5, 2.0)), tmp_path)
  factor = results["factors"]["contrast"]
  assert factor["values"] == [0.5, 2.0] and factor["field"] == "data.phantom.contrast_scale"
  datasets = set()
  for value in ("0.5", "2"):
    for method in ("gda", "ocsvm"):
      run = json.loads((tmp_path / "contrast" / value / method / "seed0" / "results.json").read_text())
      assert f"contrast {value} x" in run["dataset"]
      datasets.add(run["dataset"])
    assert factor["methods"]["gda"]["f1"]["mean"][0 if value == "0.5" else 1] == pytest.approx(
        json.loads((tmp_path / "contrast" / value / "gda" / "seed0" / "results.json").read_text())["f1"])
  assert len(datasets) == 2
  for metric in ("f1", "roc_auc"):
    assert (tmp_path / "plots" / f"sweep_contrast_{metric}.png").stat().st_size > 0
  assert json.loads((tmp_path / "sweep.json").read_text()) == results
  assert "| gda | f1 |" in (tmp_path / "sweep.md").read_text()


def test_the_imbalance_sweep_thins_the_training_anomalies_of_one_dataset(dataset_cache, tmp_path):
  del dataset_cache
  results = sweep(_smoke_sweep("imbalance", imbalance=(0.1, 0.5)), tmp_path)
  anomalous = []
  for value in ("0.1", "0.5"):
    data = json.loads((tmp_path / "imbalance" / value / "gda" / "seed0" / "data.json").read_text())
    anomalous.append(data["splits"]["train"]["classes"]["anomalous"])
    assert data["splits"]["test"] == json.loads(
        (tmp_path / "imbalance" / "0.1" / "gda" / "seed0" / "data.json").read_text())["splits"]["test"]
  assert anomalous[0] < anomalous[1]
  assert set(results["factors"]) == {"imbalance"}


def test_fixed_phantom_properties_replace_the_presets_ranges_and_name_the_dataset():
  spec = smoke.get_config().data.phantom
  preset = phantom_parameters(spec)
  spec.noise_hu, spec.lesion_diameter_mm, spec.contrast_scale = 30.0, 8.0, 0.5
  fixed = phantom_parameters(spec)
  assert fixed.noise_hu == (30.0, 30.0) and fixed.lesion_diameter_mm == (8.0, 8.0)
  assert fixed.lesion_contrast_hu == (preset.lesion_contrast_hu[0] / 2, preset.lesion_contrast_hu[1] / 2)
  assert fixed.nodule_contrast_hu == (preset.nodule_contrast_hu[0] / 2, preset.nodule_contrast_hu[1] / 2)
  assert phantom_name(spec) == "easy-noise30HU-diameter8mm-contrast0.5x"
  config = smoke.get_config()
  config.data.phantom.noise_hu = 30.0
  assert "noise 30 HU" in label_meaning(config.data)[0]


@pytest.mark.parametrize("field, value", [("noise_hu", -1.0), ("lesion_diameter_mm", -2.0), ("contrast_scale", 0.0)])
def test_unusable_phantom_properties_are_refused_by_name(field, value):
  config = smoke.get_config()
  setattr(config.data.phantom, field, value)
  with pytest.raises(ConfigError, match=f"config field data.phantom.{field}"):
    validate_config(config)


def test_unknown_factors_and_repeated_values_are_refused_before_any_training(tmp_path):
  with pytest.raises(ConfigError, match="sweep.factors: blur is not one of"):
    sweep(_smoke_sweep("noise,blur"), tmp_path)
  with pytest.raises(ConfigError, match="sweep.levels.noise"):
    sweep(_smoke_sweep("noise", noise=(5.0, 5.0)), tmp_path)
  assert not list(tmp_path.iterdir())


def test_every_factor_has_values_in_the_sweep_config():
  config = sweep_config.get_config()
  assert set(config.sweep.levels) == set(FACTORS)
  assert sorted(config.sweep.levels.imbalance) == [0.05, 0.1, 0.2, 0.5]  # the u values
