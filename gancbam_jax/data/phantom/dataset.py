"""Datasets: plans slices into patients, generates them with their records, and writes them to disk."""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Iterator

import numpy as np
from pydicom.uid import generate_uid

from gancbam_jax.data.phantom import dicom_writer
from gancbam_jax.data.phantom.acquisition import acquire
from gancbam_jax.data.phantom.anatomy import render_anatomy
from gancbam_jax.data.phantom.anomalies import Artefact, Lesion, draw_artefact, draw_lesion
from gancbam_jax.data.phantom.config import ARTEFACT_TYPES, LUNG_LESION, PhantomConfig, resolve_config
from gancbam_jax.data.phantom.filters import field_of_view
from gancbam_jax.data.phantom.patient import Patient, sample_patient


@dataclasses.dataclass(frozen=True)
class PhantomSlice:
  """What is known about one generated slice: identity, acquisition, and ground truth.

  Lesion fields are None for slices without a lesion; artefact_strength is None for slices
  without an artefact (HU offset for hu_miscalibration, amplitude in HU for ring and streak,
  noise factor for noise_burst).
  """

  index: int
  patient_index: int
  patient_id: str
  instance_number: int
  slice_location_mm: float
  age: int
  sex: str
  contrast: bool
  contrast_tag: str
  pixel_spacing_mm: float
  noise_hu: float
  anomaly: bool
  anomaly_type: str
  lesion_row: int | None
  lesion_col: int | None
  lesion_radius_px: float | None
  lesion_diameter_mm: float | None
  lesion_contrast_hu: float | None
  artefact_strength: float | None
  study_uid: str
  series_uid: str
  frame_of_reference_uid: str
  sop_uid: str


@dataclasses.dataclass(frozen=True)
class SlicePlan:
  """What one slice will be: its patient, position within the patient, and planned anomaly kind."""

  index: int
  patient_index: int
  instance: int
  kind: str


def _rng(seed: int, *stream: int) -> np.random.Generator:
  """An independent random stream for (seed, stream...), so parts never shift each other's draws."""
  return np.random.default_rng([seed, *stream])


def plan_dataset(n: int, seed: int, config: PhantomConfig) -> list[list[SlicePlan]]:
  """Splits n slices into patients and assigns anomaly kinds: exactly round(fraction * n) anomalous."""
  if n < 1:
    raise ValueError(f"n must be at least 1, got {n}")
  rng = _rng(seed, 0)
  low, high = config.slices_per_patient
  sizes = []
  while sum(sizes) < n:
    sizes.append(int(rng.integers(low, high + 1)))
  sizes[-1] -= sum(sizes) - n
  if sizes[-1] < low and len(sizes) > 1:
    # A short last patient joins the one before it, so every patient keeps several slices.
    last = sizes.pop()
    sizes[-1] += last
  anomalous = np.zeros(n, dtype=bool)
  anomalous[rng.permutation(n)[:round(config.anomaly_fraction * n)]] = True
  kinds = [anomaly_kind(rng, config) if flag else "none" for flag in anomalous]
  plans, index = [], 0
  for patient_index, size in enumerate(sizes):
    plans.append([SlicePlan(index + k, patient_index, k, kinds[index + k]) for k in range(size)])
    index += size
  return plans


def anomaly_kind(rng: np.random.Generator, config: PhantomConfig) -> str:
  """Draws the kind of an anomalous slice's anomaly."""
  if rng.random() < config.artefact_share:
    return str(rng.choice(ARTEFACT_TYPES))
  if rng.random() < config.lung_lesion_share:
    return LUNG_LESION
  return str(rng.choice(("hypodense_lesion", "hyperdense_lesion")))


@dataclasses.dataclass(frozen=True)
class SliceStreams:
  """The independent random streams of one slice: its anatomy, its anomaly, and its acquisition.

  Kept apart so that the same slice drawn with and without its anomaly has the same anatomy and
  the same scanner noise: the two differ by the anomaly alone, which is how its signal is measured.
  """

  anatomy: np.random.Generator
  anomaly: np.random.Generator
  acquisition: np.random.Generator

  @classmethod
  def for_slice(cls, seed: int, patient_index: int, instance: int, rescan: int = 0) -> "SliceStreams":
    """The slice's streams; rescan k > 0 draws new scanner noise, as scanning the same patient again would."""
    acquisition = (seed, 4, patient_index, instance) + ((rescan,) if rescan else ())
    return cls(_rng(seed, 2, patient_index, instance), _rng(seed, 3, patient_index, instance), _rng(*acquisition))


def generate_slice(patient: Patient, plan: SlicePlan, z: float, config: PhantomConfig,
                   streams: SliceStreams) -> tuple[np.ndarray, str, Lesion | None, Artefact | None]:
  """One scan of a patient at level z with its planned anomaly: (int16 HU, type, lesion, artefact)."""
  anatomy = render_anatomy(patient, z, streams.anatomy,
                           skin_markers=streams.anatomy.random() < config.skin_marker_probability)
  lesion = artefact = None
  anomaly_type = plan.kind
  if plan.kind in ARTEFACT_TYPES:
    artefact = draw_artefact(plan.kind, anatomy, patient, config, streams.anomaly)
  elif plan.kind != "none":
    anomaly_type, lesion = draw_lesion(anatomy, patient, plan.kind, config, streams.anomaly)
  return acquire(anatomy, patient, artefact, streams.acquisition), anomaly_type, lesion, artefact


def _uid(seed: int, n: int, config: PhantomConfig, *parts: object) -> str:
  """A DICOM UID derived from the dataset's identity, so the same call writes the same UIDs."""
  return str(generate_uid(entropy_srcs=["gancbam-jax phantom", str(seed), str(n), repr(config),
                                        *map(str, parts)]))


def generate_patients(n: int, seed: int, config: PhantomConfig | str = "medium", rescan: int = 0
                      ) -> Iterator[tuple[np.ndarray, list[PhantomSlice]]]:
  """Yields, patient by patient, (int16 HU slices (k, IMAGE_SIZE, IMAGE_SIZE), their records).

  rescan k > 0 gives the same slices with other scanner noise (see SliceStreams.for_slice).
  """
  config = resolve_config(config)
  if seed < 0:
    raise ValueError(f"seed must be non-negative, got {seed}")
  for plans in plan_dataset(n, seed, config):
    patient_index = plans[0].patient_index
    rng = _rng(seed, 1, patient_index)
    patient = sample_patient(patient_index, rng, config)
    levels = np.sort(rng.uniform(0.1, 0.95, len(plans)))
    series = {kind: _uid(seed, n, config, kind, patient_index) for kind in ("study", "series", "frame")}
    slices, records = [], []
    for plan, z in zip(plans, levels):
      hu, anomaly_type, lesion, artefact = generate_slice(
          patient, plan, float(z), config, SliceStreams.for_slice(seed, patient_index, plan.instance, rescan))
      slices.append(hu)
      records.append(PhantomSlice(
          index=plan.index, patient_index=patient_index, patient_id=patient.patient_id,
          instance_number=plan.instance + 1,
          slice_location_mm=round(float(patient.table_position_mm - z * patient.thorax_length_mm), 2),
          age=patient.age, sex=patient.sex, contrast=patient.contrast, contrast_tag=patient.contrast_tag,
          pixel_spacing_mm=patient.grid.spacing_mm, noise_hu=patient.noise_hu, anomaly=plan.kind != "none",
          anomaly_type=anomaly_type, lesion_row=lesion and lesion.row, lesion_col=lesion and lesion.col,
          lesion_radius_px=lesion and lesion.radius_px, lesion_diameter_mm=lesion and lesion.diameter_mm,
          lesion_contrast_hu=lesion and lesion.contrast_hu, artefact_strength=artefact and artefact.strength,
          study_uid=series["study"], series_uid=series["series"], frame_of_reference_uid=series["frame"],
          sop_uid=_uid(seed, n, config, "instance", plan.index)))
    yield np.stack(slices), records


def generate_slices(n: int, seed: int, config: PhantomConfig | str = "medium", rescan: int = 0
                    ) -> tuple[np.ndarray, list[PhantomSlice]]:
  """n slices in memory: int16 HU (n, IMAGE_SIZE, IMAGE_SIZE), outside the field of view air, and records.

  rescan k > 0 gives the same slices with other scanner noise (see SliceStreams.for_slice).
  """
  slices, records = [], []
  for patient_slices, patient_records in generate_patients(n, seed, config, rescan):
    slices.append(patient_slices)
    records.extend(patient_records)
  return np.concatenate(slices), records


def write_dataset(out_dir: str | os.PathLike, n: int, seed: int,
                  preset: str | PhantomConfig = "medium") -> pathlib.Path:
  """Writes n slices as DICOM files plus overview.csv in the Kaggle layout; returns the CSV's path.

  preset is a name in PRESETS or a PhantomConfig. A previous (or interrupted) phantom dataset
  in out_dir is replaced; any other non-empty out_dir is refused with
  dicom_writer.OutputDirError, so nothing else is ever deleted. overview.csv is written
  last, so its presence means the dataset is complete.
  """
  config = resolve_config(preset)
  out = pathlib.Path(out_dir).resolve()
  dicom_dir = dicom_writer.prepare_output_dir(out)
  padding = ~field_of_view()
  records = []
  for slices, patient_records in generate_patients(n, seed, config):
    for hu, record in zip(slices, patient_records):
      dicom_writer.write_ct_slice(dicom_dir / dicom_writer.dicom_name(record), hu, padding, record)
    records.extend(patient_records)
  return dicom_writer.write_overview(out, records)
