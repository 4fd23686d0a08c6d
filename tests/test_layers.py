"""The package's layers: each imports only from its own layer and those below it."""

import ast
import pathlib

import gancbam_jax

PACKAGE = pathlib.Path(gancbam_jax.__file__).parent
# data -> models -> train -> detect | methods -> experiment -> compare | export -> cli (the launchers' start).
# methods (the named methods as config fields) sits beside detect, whose config checks use it.
LAYERS = {"batching": 0, "plotting": 0, "data": 0, "compile_cache": 1, "models": 1, "train": 2, "detect": 3,
          "methods": 3, "experiment": 4, "compare": 5, "export": 5, "cli": 6}


def _imported_parts(path: pathlib.Path) -> set[str]:
  """The top-level parts of gancbam_jax (data, train, ...) that a module imports, at any depth of its code."""
  names = []
  for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
    if isinstance(node, ast.Import):
      names += [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module == "gancbam_jax":  # from gancbam_jax import models
      names += [f"gancbam_jax.{alias.name}" for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      names.append(node.module or "")
  return {name.split(".")[1] for name in names if name.startswith("gancbam_jax.")}


def test_every_part_of_the_package_has_a_layer():
  parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
           if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
  assert parts == set(LAYERS)


def test_no_module_imports_from_a_layer_above_its_own():
  upward = []
  for path in sorted(PACKAGE.rglob("*.py")):
    relative = path.relative_to(PACKAGE)
    if relative.parts == ("__init__.py",):
      continue
    own = relative.parts[0].removesuffix(".py")
    upward += [f"{relative} imports gancbam_jax.{part}" for part in _imported_parts(path)
               if LAYERS[part] > LAYERS[own]]
  assert not upward, upward


def test_the_check_sees_every_form_of_import_even_inside_a_function(tmp_path):
  module = tmp_path / "m.py"
  module.write_text("def f():\n  from gancbam_jax.experiment import run_experiment\n  import gancbam_jax.detect.metrics\n"
                    "  from gancbam_jax import compare\n")
  assert _imported_parts(module) == {"experiment", "detect", "compare"}
