"""launch/inspect_data.py: the load report contract and the sample grid, run as a user runs it."""

import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def _run(*args, cwd):
  return subprocess.run([sys.executable, str(REPO / "launch" / "inspect_data.py"), *args], cwd=cwd,
                        capture_output=True, text=True, timeout=300)


def test_report_lists_loaded_skipped_and_classes(tmp_path, write_ct):
  data = tmp_path / "data"
  for i in range(2):
    write_ct(data / "normal" / f"n{i}.dcm", f"N{i}")
    write_ct(data / "anomalous" / f"a{i}.dcm", f"A{i}", hu_offset=300)
  (data / "normal" / "broken.dcm").write_bytes(b"DICM but not really")
  result = _run("--root", str(data), "--json", "out/report.json", f"--config.data.cache_dir={tmp_path / 'c'}",
                cwd=tmp_path)
  assert result.returncode == 0, result.stderr
  report = json.loads((tmp_path / "out" / "report.json").read_text())
  assert json.loads(result.stdout) == report
  assert report["loaded"] == 4 and report["classes"] == {"anomalous": 2, "normal": 2}
  assert [s["path"] for s in report["skipped"]] == ["normal/broken.dcm"]
  assert "not a DICOM" in report["skipped"][0]["reason"]
  grid = tmp_path / "out" / "report.png"
  assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_config_typo_is_an_error_naming_the_field(tmp_path):
  result = _run("--config.data.hu_windw=(-1000,400)", cwd=tmp_path)
  assert result.returncode != 0
  assert "hu_windw" in result.stderr


def test_unusable_root_exits_with_a_clear_message(tmp_path):
  result = _run("--root", str(tmp_path / "missing"), cwd=tmp_path)
  assert result.returncode != 0
  assert "is not a directory" in result.stderr and "Traceback" not in result.stderr
