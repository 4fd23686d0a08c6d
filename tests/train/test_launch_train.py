"""launch/train.py refuses config typos and unusable values with the field's name, before any training."""

import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def _train(tmp_path, *overrides):
  command = [sys.executable, str(REPO / "launch" / "train.py"), "--config", str(REPO / "configs" / "smoke.py"),
             f"--workdir={tmp_path / 'run'}", *overrides]
  return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_a_misspelt_field_is_named(tmp_path):
  result = _train(tmp_path, "--config.train.gan_stepz=3")
  assert result.returncode != 0
  assert "gan_stepz" in result.stderr
  assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override, field", [("--config.model.variant=cbm", "model.variant"),
                                             ("--config.train.checkpoint_every=0", "train.checkpoint_every")])
def test_an_unusable_value_is_named(tmp_path, override, field):
  result = _train(tmp_path, override)
  assert result.returncode == 1
  assert f"error: config field {field}" in result.stderr
  assert "Traceback" not in result.stderr
