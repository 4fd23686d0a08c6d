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


SCHEDULES = ("constant", "cosine")
WARMUP_FRACTION = 0.05


def adam(learning_rate: float, beta1: float, *, schedule: str = "constant", steps: int = 0,
         weight_decay: float = 0.0) -> optax.GradientTransformation:
  """Adam with first-moment decay `beta1` (BAGAN's 0.5 for adversarial training), AdamW when `weight_decay` > 0.

  `schedule` 'cosine' warms the rate up linearly over the first 5 % of `steps` and then decays it
  to 0 along a cosine: the last steps are small, so the weights a stage ends with (and that
  validation scores) are not those of one noisy step at full rate. 'constant' keeps the rate.
  """
  if schedule not in SCHEDULES:
    raise ValueError(f"unknown schedule {schedule!r}; expected one of {SCHEDULES}")
  rate = learning_rate
  if schedule == "cosine":
    rate = optax.warmup_cosine_decay_schedule(0.0, learning_rate, warmup_steps=max(1, round(WARMUP_FRACTION * steps)),
                                              decay_steps=max(steps, 2))
  if weight_decay:
    return optax.adamw(rate, b1=beta1, weight_decay=weight_decay)
  return optax.adam(rate, b1=beta1)


def train_only(tx: optax.GradientTransformation, params: Any, layers: tuple[str, ...]) -> optax.GradientTransformation:
  """`tx` for the top-level parameter groups named in `layers`; every other parameter keeps its value.

  The frozen parameters get no optimiser state, and their gradients are never applied. With
  nothing frozen it is `tx` itself, whose state checkpoints written before this function restore into.
  """
  if set(params) <= set(layers):
    return tx
  labels = {name: jax.tree.map(lambda _: "trained" if name in layers else "frozen", group)
            for name, group in params.items()}
  return optax.multi_transform({"trained": tx, "frozen": optax.set_to_zero()}, labels)


def create_train_state(model: nn.Module, variables: Variables, tx: optax.GradientTransformation) -> TrainState:
  """A step-0 state for `model` starting from `variables`."""
  return TrainState.create(apply_fn=model.apply, params=variables["params"], tx=tx,
                           batch_stats=variables.get("batch_stats", {}))


def all_finite(tree) -> jax.Array:
  """A scalar bool: every element of every leaf is finite."""
  leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)
