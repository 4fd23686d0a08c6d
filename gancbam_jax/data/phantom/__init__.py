"""Generate synthetic axial chest CT slices in Hounsfield units, with controlled anomalies.

The built-in dataset for users without the Kaggle "CT Medical Images" download and for every
test. Each synthetic patient has its own anatomy (body, fat and muscle, lungs with branching
vessels, mediastinum, heart and great vessels, spine, ribs, sternum, scapulae, liver; optional
contrast, breasts, table, ECG electrodes) and several slices at different levels of the chest.
Half of the slices (`anomaly_fraction`) carry one anomaly: a lesion of controlled diameter and
contrast (lung nodule or mass, hypo- or hyperdense soft-tissue lesion) or an acquisition
artefact (HU miscalibration, ring, streaks from a dense object, noise burst). Everything is
drawn from the seed, so a seed gives the same slices, and `write_dataset` the same bytes, on
every run.

Entry points: `generate_slices(n, seed, config)` -> (int16 HU (n, 512, 512), [PhantomSlice]),
`generate_patients` (the same, patient by patient) and `write_dataset(out_dir, n, seed, preset)`
(DICOM files plus overview.csv). Slices are int16 HU with the area outside the scanner's
circular field of view set to air, which is what `gancbam_jax.data.dicom.read_ct_slices`
returns for the written files; the DICOM writer stores that area as padding, like real scanners.

Modules, in pipeline order: config (constants, PhantomConfig, PRESETS), geometry (shapes in
mm painted into the image), filters (blur, random fields, field of view), patient (anatomy and
tissue densities per patient), anatomy (one noise-free slice), anomalies (lesions and
artefacts), acquisition (noise, artefact, clipping), dataset (planning, generation, writing)
and dicom_writer (DICOM files and overview.csv).
"""

from gancbam_jax.data.phantom.acquisition import acquire
from gancbam_jax.data.phantom.anatomy import RenderedAnatomy, render_anatomy
from gancbam_jax.data.phantom.anomalies import Artefact, Lesion, draw_artefact, draw_lesion
from gancbam_jax.data.phantom.config import (AIR_HU, ANOMALY_TYPES, ARTEFACT_TYPES, GENERATOR_VERSION, IMAGE_SIZE,
                                             LESION_TYPES, LUNG_LESION, MASS_MIN_DIAMETER_MM, MAX_HU, METAL_HU, MIN_HU,
                                             PATIENT_ID_PREFIX, PRESETS, PhantomConfig, resolve_config)
from gancbam_jax.data.phantom.dataset import (PhantomSlice, SlicePlan, SliceStreams, generate_patients, generate_slice,
                                              generate_slices, plan_dataset, write_dataset)
from gancbam_jax.data.phantom.dicom_writer import OutputDirError
from gancbam_jax.data.phantom.filters import field_of_view, gaussian_blur, radius_from_centre_px
from gancbam_jax.data.phantom.geometry import Grid
from gancbam_jax.data.phantom.patient import Patient, TissueHU, sample_patient

__all__ = [
    "AIR_HU", "ANOMALY_TYPES", "ARTEFACT_TYPES", "Artefact", "GENERATOR_VERSION", "Grid", "IMAGE_SIZE", "LESION_TYPES",
    "LUNG_LESION", "Lesion", "MASS_MIN_DIAMETER_MM", "MAX_HU", "METAL_HU", "MIN_HU", "OutputDirError",
    "PATIENT_ID_PREFIX", "PRESETS", "Patient", "PhantomConfig", "PhantomSlice", "RenderedAnatomy", "SlicePlan",
    "SliceStreams", "TissueHU", "acquire", "draw_artefact", "draw_lesion", "field_of_view", "gaussian_blur",
    "generate_patients", "generate_slice", "generate_slices", "plan_dataset", "radius_from_centre_px",
    "render_anatomy", "resolve_config", "sample_patient", "write_dataset",
]
