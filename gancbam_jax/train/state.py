"""Train states (parameters, BatchNorm statistics, Adam moments, step) and BAGAN's optimiser."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from gancbam_jax.models import Variables


class TrainState(train_state.TrainState):
  """Flax's TrainState plus the model's running BatchNorm statistics."""

  batch_stats: Any = None

  @property
  def variables(self) -> Variables:
    """{'params', 'batch_stats'}, as `model.apply` takes them."""
    return {"params": self.params, "batch_stats": self.batch_stats}


def adam(learning_rate: float, beta1: float) -> optax.GradientTransformation:
  """BAGAN's optimiser: Adam with a low first-moment decay (beta1 = 0.5) for adversarial training."""
  return optax.adam(learning_rate, b1=beta1)


def create_train_state(model: nn.Module, variables: Variables, tx: optax.GradientTransformation) -> TrainState:
  """A step-0 state for `model` starting from `variables`."""
  return TrainState.create(apply_fn=model.apply, params=variables["params"], tx=tx,
                           batch_stats=variables.get("batch_stats", {}))


def all_finite(tree) -> jax.Array:
  """A scalar bool: every element of every leaf is finite."""
  leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)
