"""Export a finished run's detector for deployment: model.jaxexport, variables.msgpack, manifest.json.

  python launch/export.py --workdir runs/default --out runs/default/export
  python launch/export.py --workdir runs/cv5/folds/fold0 --out export_fold0 --step 40

The threshold and metrics in the manifest are those of the exported variables, chosen and
measured on the run's validation and test splits. Loading the export needs only jax.
"""

import sys

from absl import app, flags

from gancbam_jax import cli
from gancbam_jax.export.writer import export_run

_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory written by launch/train.py (or one of its "
                               "folds/fold<k> directories).", required=True)
_OUT = flags.DEFINE_string("out", None, "Export directory to write (created; a previous export there is "
                           "replaced).", required=True)
_STEP = flags.DEFINE_integer("step", None, "A kept checkpoint step of the detector's stage; default the "
                             "checkpoint evaluation selected.")


def main(argv):
  cli.begin(argv, "--workdir, --out and --step")
  try:
    manifest = export_run(_WORKDIR.value, _OUT.value, _STEP.value)
  except (*cli.RUN_ERRORS, FileNotFoundError, ValueError) as e:
    sys.exit(f"error: {e}")
  test = manifest["test_metrics"]
  print(f"exported the {manifest['method']} detector ({manifest['selected_checkpoint']['stage']} step "
        f"{manifest['selected_checkpoint']['step']}) to {_OUT.value}: threshold {manifest['threshold']:.4g} "
        f"({manifest['threshold_rule']}); test ROC-AUC {test['roc_auc']:.3f}, F1 {test['f1']:.3f}")


if __name__ == "__main__":
  app.run(main)
