"""launch/train.py refuses config typos and unusable values with the field's name, before any training."""

import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def _launch(tmp_path, *overrides, launcher="train.py"):
  command = [sys.executable, str(REPO / "launch" / launcher), "--config", str(REPO / "configs" / "smoke.py"),
             f"--workdir={tmp_path / 'run'}", *overrides]
  return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("launcher", ["train.py", "compare.py", "sweep.py"])
def test_a_misspelt_field_is_one_line_with_the_suggestion(tmp_path, launcher):
  result = _launch(tmp_path, "--config.train.gan_stepz=3", launcher=launcher)
  assert result.returncode == 2
  assert result.stderr.strip() == "error: unknown config field train.gan_stepz; did you mean train.gan_steps?"
  assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override, message", [
    ("--config.train.nosuch.depth=3", "error: unknown config field train.nosuch"),
    ("--config.train.gan_steps=many", "error: flag --config.train.gan_steps=many: invalid literal for int()")])
def test_an_unknown_section_or_unparsable_value_is_one_line(tmp_path, override, message):
  result = _launch(tmp_path, override)
  assert result.returncode == 2
  assert result.stderr.startswith(message) and "Traceback" not in result.stderr


@pytest.mark.parametrize("override, field", [("--config.model.variant=cbm", "model.variant"),
                                             ("--config.train.checkpoint_every=0", "train.checkpoint_every")])
def test_an_unusable_value_is_named(tmp_path, override, field):
  result = _launch(tmp_path, override)
  assert result.returncode == 1
  assert f"error: config field {field}" in result.stderr
  assert "Traceback" not in result.stderr
