"""Default configuration: the built-in synthetic CT dataset (generated into the cache on first use).

Inspect its data:
  python launch/inspect_data.py --config configs/default.py --json demo/load_report.json
"""

import ml_collections


def get_data_config() -> ml_collections.ConfigDict:
  """Where slices come from, how they are labelled and preprocessed, and how they are split."""
  data = ml_collections.ConfigDict()
  # "phantom": the built-in synthetic CT set; "directory": a dataset at data.root.
  data.source = "phantom"
  data.root = ""
  data.layout = "auto"  # auto | kaggle | csv | folders
  data.table = ""  # csv layout: the label table, relative to data.root
  data.path_column = "path"  # csv layout: the column of file paths
  data.label_column = "Anomaly"
  data.anomalous_value = "True"
  data.anomalous_class = "anomalous"  # folders layout: the anomalous class's folder
  data.hu_window = (-200.0, 1000.0)
  data.image_size = 64
  data.multiframe = "slices"  # slices | error
  data.modalities = ("CT",)
  data.cache_dir = ""  # default $GANCBAM_CACHE or ~/.cache/gancbam_jax
  data.num_workers = 0  # decoding processes; 0 = one per core
  data.strict = False  # True: stop at the first unusable file instead of skipping it

  data.phantom = ml_collections.ConfigDict()
  data.phantom.n = 240
  data.phantom.seed = 0
  data.phantom.preset = "medium"  # easy | medium | hard

  data.split = ml_collections.ConfigDict()
  data.split.val_fraction = 0.15
  data.split.test_fraction = 0.15
  data.split.seed = 0
  # BAGAN imbalance protocol: keep ceil(u * majority) anomalous training slices; 0 keeps all.
  data.split.imbalance_u = 0.0
  return data


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.data = get_data_config()
  return config
