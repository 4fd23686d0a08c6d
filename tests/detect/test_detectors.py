"""Detector outputs for every model variant: scores per slice and a heatmap of where the evidence lies."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancbam_jax import models
from gancbam_jax.detect.detectors import classifier_outputs

IMAGE_SIZE = 64


@pytest.mark.parametrize("variant", models.VARIANTS)
def test_a_classifier_of_every_variant_gives_scores_and_a_heatmap(variant):
  classifier = models.build_classifier(models.build_autoencoder(variant, IMAGE_SIZE, 16, jnp.float32, "subpixel"))
  variables = models.init_variables(classifier, jax.random.key(0))
  outputs = classifier_outputs(classifier, 1)
  images = jax.random.uniform(jax.random.key(1), (3, IMAGE_SIZE, IMAGE_SIZE, 1))
  scores, heatmaps = jax.jit(outputs)(variables, images)
  assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))
  assert heatmaps.ndim == 3 and heatmaps.shape[0] == 3
  # Without attention (baseline) the map is gradient saliency at full resolution, and not all zero.
  if variant == "baseline":
    assert heatmaps.shape[1:] == (IMAGE_SIZE, IMAGE_SIZE) and float(jnp.abs(heatmaps).max()) > 0
