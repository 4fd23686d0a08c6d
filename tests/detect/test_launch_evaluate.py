"""launch/evaluate.py refuses a directory that holds no finished run, saying what to do, without a traceback."""

import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def _evaluate(workdir):
  return subprocess.run([sys.executable, str(REPO / "launch" / "evaluate.py"), f"--workdir={workdir}"],
                        capture_output=True, text=True, timeout=120)


def test_a_directory_without_a_run_is_refused(tmp_path):
  result = _evaluate(tmp_path)
  assert result.returncode == 1
  assert "config.json" in result.stderr and "launch/train.py" in result.stderr
  assert "Traceback" not in result.stderr
