"""The documentation stays true: every documented program and config exists, every program answers --help
without a traceback, every relative link resolves, and README.md stays short enough to read in five minutes."""

import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]

BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)
SCRIPT = re.compile(r"(?:^|[\s;&|(])(?:\.venv/bin/)?python3?\s+((?:launch|benchmarks)/[\w.-]+\.py)\b")
CONFIG = re.compile(r"--config[ =](configs/[\w./-]+?\.py)\b")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")

# Programs whose imports need an optional extra, and the module that extra provides.
NEEDS = {"benchmarks/torch_peer.py": "torch"}


def _bash_blocks():
  for page in PAGES:
    for block in BASH_BLOCK.findall(page.read_text()):
      yield page, block


def _scripts():
  return sorted({script for _, block in _bash_blocks() for script in SCRIPT.findall(block)})


def test_docs_pages_exist():
  assert README.is_file()
  assert DOCS, "docs/*.md is empty"


def test_readme_at_most_200_lines():
  n = len(README.read_text().splitlines())
  assert n <= 200, f"README.md has {n} lines; move detail to docs/"


def test_readme_links_every_docs_page():
  text = README.read_text()
  missing = [p.name for p in DOCS if f"(docs/{p.name})" not in text]
  assert not missing, f"README.md does not link {missing}"


def test_bash_blocks_name_programs():
  # Guards the regex: if it stopped matching, the parametrised checks below would silently check nothing.
  scripts = _scripts()
  assert "launch/train.py" in scripts
  assert any(s.startswith("benchmarks/") for s in scripts)


@pytest.mark.parametrize("script", _scripts())
def test_documented_program_runs_help(script):
  path = ROOT / script
  assert path.is_file(), f"{script} is documented but does not exist"
  module = NEEDS.get(script)
  if module is not None and importlib.util.find_spec(module) is None:
    pytest.skip(f"{script} needs {module} (the bench extra), not installed here")
  result = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
  output = result.stdout + result.stderr
  # absl launchers print their usage and exit 1 on --help; argparse programs exit 0.
  assert result.returncode in (0, 1), f"{script} --help exited {result.returncode}:\n{output[-3000:]}"
  assert "Traceback" not in output, f"{script} --help raised:\n{output[-3000:]}"
  assert output.strip(), f"{script} --help printed nothing"


def test_documented_configs_exist():
  configs = {(page.name, config) for page, block in _bash_blocks() for config in CONFIG.findall(block)}
  assert configs, "no --config configs/NAME.py in any bash block"
  missing = sorted(f"{config} (in {page})" for page, config in configs if not (ROOT / config).is_file())
  assert not missing, f"documented configs that do not exist: {missing}"


def _links(page):
  text = CODE_SPAN.sub("", FENCE.sub("", page.read_text()))
  for target in LINK.findall(text):
    if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
      continue  # a URL or an anchor within the page
    yield target


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
  broken = [target for target in _links(page)
            if not (page.parent / target.split("#", 1)[0]).exists()]
  assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"
