"""Every kind of detector output exports with a symbolic batch and loads back computing the same values."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancbam_jax import models
from gancbam_jax.detect.detectors import (
    Detector,
    TrainedVariables,
    _reconstruction_outputs,
    classifier_outputs,
)
from gancbam_jax.detect import aclae
from gancbam_jax.detect.normality import FAnoGanModels, izif_residuals
from gancbam_jax.detect.shallow import feature_detector_outputs, fit_feature_detector
from gancbam_jax.export import ExportedDetector
from gancbam_jax.export.writer import serving_function, write_export

IMAGE_SIZE = 64
LATENT = 16


def _autoencoder(variant="cbam"):
  return models.build_autoencoder(variant, IMAGE_SIZE, LATENT, jnp.float32, "subpixel")


def _classifier(variant):
  classifier = models.build_classifier(_autoencoder(variant))
  outputs = classifier_outputs(classifier, 1)
  return outputs, models.init_variables(classifier, jax.random.key(0))


def _reconstruction():
  autoencoder = _autoencoder()
  return functools.partial(_reconstruction_outputs, autoencoder), models.init_variables(autoencoder, jax.random.key(0))


def _fanogan():
  autoencoder = _autoencoder()
  fanogan = FAnoGanModels(models.Encoder(autoencoder.variant, IMAGE_SIZE, LATENT), models.build_generator(autoencoder),
                          models.build_discriminator(autoencoder, 1))
  variables = {name: models.init_variables(getattr(fanogan, name), jax.random.key(k))
               for k, name in enumerate(("encoder", "generator", "discriminator"))}
  return lambda v, x: izif_residuals(fanogan, v, x, 1.0)[:2], variables


def _gda():
  images = np.random.default_rng(1).uniform(size=(20, IMAGE_SIZE, IMAGE_SIZE, 1)).astype(np.float32)
  return feature_detector_outputs("gda"), fit_feature_detector("gda", images, 4, seed=0)


def _aclae():
  model = aclae.AclaeAutoencoder(bands=8, time_points=aclae.TIME_POINTS)
  variables = model.init(jax.random.key(0), aclae.signature_matrices(jnp.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1)), 8))
  return functools.partial(aclae.reconstruction_errors, model, bands=8), variables


KINDS = {
    "classifier without attention (saliency map)": functools.partial(_classifier, "baseline"),
    "classifier with attention gates": functools.partial(_classifier, "attention_gate"),
    "reconstruction (residual map)": _reconstruction,
    "f-AnoGAN (three modules)": _fanogan,
    "GDA (PCA features, deviation map)": _gda,
    "ACLAE-DT (signature matrices, band map)": _aclae,
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_detector_kind_exports_and_loads_back(kind, tmp_path):
  outputs, variables = KINDS[kind]()
  detector = Detector("x", jax.jit(outputs), variables, "map", {}, {}, TrainedVariables("x"), kind)
  function = serving_function(detector, IMAGE_SIZE)
  write_export(tmp_path, function, variables, (IMAGE_SIZE, IMAGE_SIZE, 1), {
      "method": kind, "preprocess": {}, "normalization": {}, "threshold": 0.5,
      "labels": {"flagged": "anomalous", "not_flagged": "normal"}})
  images = np.random.default_rng(0).uniform(size=(3, IMAGE_SIZE, IMAGE_SIZE, 1)).astype(np.float32)
  scores, heatmaps = ExportedDetector.load(tmp_path)(images)
  expected_scores, expected_heatmaps = function(images)
  assert heatmaps.shape == (3, IMAGE_SIZE, IMAGE_SIZE)
  np.testing.assert_allclose(scores, expected_scores, atol=1e-5)
  np.testing.assert_allclose(heatmaps, expected_heatmaps, atol=1e-5)
