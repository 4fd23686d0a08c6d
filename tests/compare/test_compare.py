"""launch/compare.py's comparison: same splits and seeds for every method, mean and std, resumable, honest tables."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from configs import compare as compare_config
from configs import smoke
from gancbam_jax.compare import METHODS, compare, runs
from gancbam_jax.methods import experiment_config, parse_names, with_fields
from gancbam_jax.detect.report import PAPER_TABLE_I
from gancbam_jax.train import ConfigError

REPO = pathlib.Path(__file__).resolve().parents[2]


def _smoke_compare(methods: str, seeds=(0,)):
  config = smoke.get_config()
  config.eval.bootstrap = 0
  config.compare = compare_config.get_config().compare
  config.compare.methods = methods
  config.compare.seeds = seeds
  return config


@pytest.fixture(scope="module")
def comparison(dataset_cache, tmp_path_factory):
  """GDA and Isolation Forest (seconds each) compared over two seeds on the smoke data."""
  del dataset_cache
  workdir = tmp_path_factory.mktemp("compare")
  return workdir, compare(_smoke_compare("gda,isolation_forest", seeds=(0, 1)), workdir)


def test_every_method_runs_on_the_same_split_at_every_seed(comparison):
  workdir, result = comparison
  splits = {(workdir / d / "split.json").read_text() for row in result["methods"] for d in row["run_directories"]}
  assert len(splits) == 1
  seeds = {json.loads((workdir / d / "config.json").read_text())["seed"]
           for row in result["methods"] for d in row["run_directories"]}
  assert seeds == {0, 1}


def test_rows_are_the_mean_and_std_over_seeds_of_each_runs_results(comparison):
  workdir, result = comparison
  for row in result["methods"]:
    per_seed = [json.loads((workdir / d / "results.json").read_text()) for d in row["run_directories"]]
    for metric in ("f1", "roc_auc", "pr_auc"):
      values = [r[metric] for r in per_seed]
      assert row["mean"][metric] == pytest.approx(np.mean(values))
      assert row["std"][metric] == pytest.approx(np.std(values, ddof=1))
    assert row["runs"] == 2 and row["wall_s_per_seed"] > 0
  assert [row["method"] for row in result["methods"]] == ["gda", "isolation_forest"]


def test_the_feature_baselines_train_no_neural_stage(comparison):
  workdir, result = comparison
  for row in result["methods"]:
    assert not (workdir / row["run_directories"][0] / "checkpoints").exists()


def test_the_markdown_shows_every_method_and_the_papers_table_beside_it(comparison):
  workdir, result = comparison
  text = (workdir / "comparison.md").read_text()
  for row in result["methods"]:
    assert row["label"] in text
  for paper in PAPER_TABLE_I:
    assert f"| {paper.method} | {paper.accuracy:.2f}" in text
  assert "GDA (Gaussian of PCA features) (here; not comparable)" in text
  assert "internally inconsistent" in text
  gda = result["methods"][0]
  assert gda["paper_table_i"]["method"] == "GDA" and result["methods"][1]["paper_table_i"] is None
  for name in ("comparison_metrics.png", "comparison_roc.png"):
    assert (workdir / "plots" / name).stat().st_size > 0


def test_a_rerun_reads_finished_methods_instead_of_training_again(comparison, monkeypatch):
  workdir, result = comparison

  def no_training(*args, **kwargs):
    raise AssertionError("a finished run was trained again")

  monkeypatch.setattr(runs, "run_experiment", no_training)
  again = compare(_smoke_compare("gda,isolation_forest", seeds=(0, 1)), workdir)
  assert again["methods"] == result["methods"]


def test_method_fields_change_only_what_the_method_names():
  base = smoke.get_config()
  for method in METHODS.values():
    config = experiment_config(base, method, seed=3)
    assert config.seed == 3 and config.data == base.data and config.eval == base.eval
    for path, value in method.overrides.items():
      section, name = path.split(".")
      assert config[section][name] == value


def test_a_misspelt_field_or_method_is_refused_by_name():
  with pytest.raises(ConfigError, match="detect.methd does not exist"):
    with_fields(smoke.get_config(), {"detect.methd": "gda"})
  with pytest.raises(ConfigError, match="compare.methods: gdaa is not one of"):
    parse_names("gda,gdaa", "compare.methods")
  with pytest.raises(ConfigError, match="twice"):
    parse_names("gda,gda", "compare.methods")


def test_launch_compare_refuses_an_unknown_method_without_a_traceback(tmp_path):
  completed = subprocess.run([sys.executable, "launch/compare.py", "--config", "configs/compare.py",
                              "--workdir", str(tmp_path / "out"), "--config.compare.methods=gan_cbam,svm"],
                             cwd=REPO, capture_output=True, text=True, timeout=120)
  assert completed.returncode != 0
  assert "compare.methods: svm is not one of" in completed.stderr and "Traceback" not in completed.stderr
  assert not (tmp_path / "out" / "gan_cbam").exists()


def test_methods_that_differ_only_after_the_autoencoder_share_it(dataset_cache, tmp_path):
  """classic_augmentation restores the autoencoder that no_augmentation trained instead of training it again."""
  del dataset_cache
  result = compare(_smoke_compare("random_forest,no_augmentation,classic_augmentation"), tmp_path)
  first, second = (tmp_path / row["run_directories"][0] for row in result["methods"][1:])
  stages = {s["stage"]: s for s in json.loads((second / "train_summary.json").read_text())["stages"]}
  assert stages["autoencoder"]["first_step"] == stages["autoencoder"]["last_step"]  # restored, not trained
  ae_lines = lambda d: [line for line in (d / "metrics.jsonl").read_text().splitlines() if '"autoencoder"' in line]
  assert ae_lines(second) == ae_lines(first) and ae_lines(first)
  assert not runs.has_autoencoder(tmp_path / result["methods"][0]["run_directories"][0])  # the forest trains none
  assert json.loads((second / "results.json").read_text())["autoencoder"] == \
      json.loads((first / "results.json").read_text())["autoencoder"]


def test_autoencoder_fields_ignore_the_detector_and_later_augmentation_only():
  base = smoke.get_config()
  same = with_fields(base, {"detect.method": "discriminator", "augment.classifier": False, "augment.diffaugment": ""})
  assert runs.autoencoder_fields(same) == runs.autoencoder_fields(base)
  for field, value in (("train.ae_steps", 7), ("augment.autoencoder", False), ("seed", 1), ("data.image_size", 128)):
    assert runs.autoencoder_fields(with_fields(base, {field: value})) != runs.autoencoder_fields(base), field
