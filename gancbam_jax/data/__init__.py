"""CT data pipeline: file (DICOM, PNG/JPEG/TIFF, NIfTI) -> HU -> window -> resize -> cache -> split -> Min-Max.

Importing this package never imports JAX: decoding runs in worker processes that need only
NumPy, pydicom, Pillow and nibabel.
"""

from gancbam_jax.data.decoded import CtSlices, SliceReadError
from gancbam_jax.data.dicom import DicomReadError, hounsfield_units, read_ct_slices
from gancbam_jax.data.layouts import DatasetLayoutError, LayoutSpec, list_labelled_files
from gancbam_jax.data.loader import CtDataset, LoadReport, SliceRecord, load_ct_dataset
from gancbam_jax.data.normalize import MinMaxStats
from gancbam_jax.data.preprocess import PreprocessSettings, area_resize, preprocess_frames, preprocess_slice, window_ct
from gancbam_jax.data.readers import read_slices
from gancbam_jax.data.source import load_from_config
from gancbam_jax.data.splits import Split, SplitError, grouped_kfold, keep_minority_fraction, train_val_test_split

__all__ = [
    "CtDataset", "CtSlices", "DatasetLayoutError", "DicomReadError", "LayoutSpec", "LoadReport", "MinMaxStats",
    "PreprocessSettings", "SliceReadError", "SliceRecord", "Split", "SplitError", "area_resize", "grouped_kfold",
    "hounsfield_units", "keep_minority_fraction", "list_labelled_files", "load_ct_dataset", "load_from_config",
    "preprocess_frames", "preprocess_slice", "read_ct_slices", "read_slices", "train_val_test_split", "window_ct",
]
