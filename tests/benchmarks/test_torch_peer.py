"""The PyTorch peer computes the same function as the Flax models, so its timings compare like with like."""

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch comes with the bench extra: pip install -e '.[bench]'")

import torch_models  # noqa: E402
import torch_peer  # noqa: E402
from gancbam_jax import models  # noqa: E402


@pytest.mark.parametrize("image_size", [64, 128])
def test_peer_matches_the_flax_models_in_both_modes(image_size):
  differences = torch_peer.equivalence(image_size, torch.device("cpu"))
  assert set(differences) == {"autoencoder_inference", "autoencoder_train", "classifier_inference", "classifier_train"}
  assert max(differences.values()) < torch_peer.EQUIVALENCE_TOLERANCE


def test_loading_refuses_variables_of_another_architecture():
  autoencoder = models.build_autoencoder("cbam", 64)
  variables = models.init_variables(models.build_classifier(autoencoder), jax.random.key(0))
  peer = torch_models.ImageClassifier(3, "cbam", 64)  # a discriminator's head: 3 logits, not 2
  with pytest.raises(ValueError, match="head.weight"):
    torch_models.load_flax_variables(peer, variables)


def test_frozen_running_statistics_leave_batchnorm_averages_alone():
  peer = torch_models.ImageClassifier(2, "cbam", 64).train()
  before = {k: v.clone() for k, v in peer.state_dict().items() if "running" in k}
  with torch_models.frozen_running_statistics(peer):
    peer(torch.rand(4, 1, 64, 64))
  assert all(torch.equal(before[k], peer.state_dict()[k]) for k in before)
  peer(torch.rand(4, 1, 64, 64))  # outside the context the averages move again
  assert not all(torch.equal(before[k], peer.state_dict()[k]) for k in before)


@pytest.mark.parametrize("step", ["autoencoder", "bagan", "classifier"])
def test_each_peer_step_changes_its_networks_parameters(step):
  steps = torch_peer.TorchSteps(64, 4, "float32", torch.device("cpu"), compiled=False)
  owners = {"autoencoder": ["autoencoder"], "bagan": ["generator", "discriminator"], "classifier": ["classifier"]}[step]
  before = {name: [p.detach().clone() for p in steps.nets[name].parameters()] for name in owners}
  getattr(steps, step)()
  for name in owners:
    assert any(not torch.equal(a, b) for a, b in zip(before[name], steps.nets[name].parameters())), name
  assert np.isfinite(sum(float(p.detach().sum()) for name in owners for p in steps.nets[name].parameters()))
