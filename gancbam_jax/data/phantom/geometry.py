"""Geometry: shapes in mm painted into windows of the image.

Coordinates: x in mm towards the patient's left (image right), y in mm posterior (image
down), origin at the image centre.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Protocol

import numpy as np

from gancbam_jax.data.phantom.config import IMAGE_SIZE


@dataclasses.dataclass(frozen=True)
class Grid:
  """Pixel centres of one patient's image in mm (x a row vector, y a column vector)."""

  spacing_mm: float
  x: np.ndarray
  y: np.ndarray

  @classmethod
  def for_spacing(cls, spacing_mm: float) -> Grid:
    centres = ((np.arange(IMAGE_SIZE) - (IMAGE_SIZE - 1) / 2) * spacing_mm).astype(np.float32)
    return cls(spacing_mm, centres[np.newaxis, :], centres[:, np.newaxis])

  def pixel(self, x_mm: float, y_mm: float) -> tuple[float, float]:
    """(row, col) of a point."""
    centre = (IMAGE_SIZE - 1) / 2
    return y_mm / self.spacing_mm + centre, x_mm / self.spacing_mm + centre

  def point(self, row: float, col: float) -> tuple[float, float]:
    """(x, y) in mm of a pixel."""
    centre = (IMAGE_SIZE - 1) / 2
    return (col - centre) * self.spacing_mm, (row - centre) * self.spacing_mm

  def window(self, cx: float, cy: float, half_size_mm: float) -> tuple[slice, slice]:
    """Rows and columns of the square of half side half_size_mm around (cx, cy), clipped."""
    row, col = self.pixel(cx, cy)
    half = half_size_mm / self.spacing_mm + 1
    rows = slice(_clip_index(row - half), _clip_index(row + half + 1))
    cols = slice(_clip_index(col - half), _clip_index(col + half + 1))
    return rows, cols

  def coordinates(self, window: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
    return self.x[:, window[1]], self.y[window[0], :]


def _clip_index(value: float) -> int:
  return int(min(max(math.floor(value), 0), IMAGE_SIZE))


class Shape(Protocol):
  """A region of the plane: a centre, a bounding half-size and a membership test, in mm."""

  cx: float
  cy: float

  def extent_mm(self) -> float: ...

  def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray: ...


@dataclasses.dataclass(frozen=True)
class Ellipse:
  """A (super)ellipse: |u/a|^power + |v/b|^power <= 1 in axes rotated by angle (radians)."""

  cx: float
  cy: float
  a: float
  b: float
  angle: float = 0.0
  power: float = 2.0

  def extent_mm(self) -> float:
    return max(self.a, self.b) * (math.sqrt(2) if self.power > 2 else 1.0)

  def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    dx, dy = x - self.cx, y - self.cy
    if self.angle:
      cos, sin = math.cos(self.angle), math.sin(self.angle)
      dx, dy = dx * cos + dy * sin, dy * cos - dx * sin
    u, v = dx / self.a, dy / self.b
    if self.power == 2:
      return u * u + v * v <= 1
    return np.abs(u) ** self.power + np.abs(v) ** self.power <= 1

  def shrunk(self, by_mm: float) -> Ellipse:
    return dataclasses.replace(self, a=max(self.a - by_mm, 0.1), b=max(self.b - by_mm, 0.1))

  def local_point(self, u: float, v: float) -> tuple[float, float]:
    """The point at (u*a, v*b) in the ellipse's own rotated axes."""
    cos, sin = math.cos(self.angle), math.sin(self.angle)
    du, dv = u * self.a, v * self.b
    return self.cx + du * cos - dv * sin, self.cy + du * sin + dv * cos

  def boundary_point(self, theta: float) -> tuple[float, float, float]:
    """(x, y, outward normal angle) of the unrotated boundary in direction theta."""
    cos, sin = math.cos(theta), math.sin(theta)
    exponent = 2 / self.power
    x = self.cx + self.a * math.copysign(abs(cos) ** exponent, cos)
    y = self.cy + self.b * math.copysign(abs(sin) ** exponent, sin)
    return x, y, math.atan2(sin / self.b, cos / self.a)


@dataclasses.dataclass(frozen=True)
class Torso:
  """A body section: superellipse halves, rounder in front and flatter at the back."""

  anterior: Ellipse
  posterior: Ellipse

  @property
  def cx(self) -> float:
    return self.anterior.cx

  @property
  def cy(self) -> float:
    return self.anterior.cy

  @property
  def top(self) -> float:
    return self.cy - self.anterior.b

  @property
  def bottom(self) -> float:
    return self.cy + self.posterior.b

  def extent_mm(self) -> float:
    return max(self.anterior.extent_mm(), self.posterior.extent_mm())

  def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.where(y < self.cy, self.anterior.inside(x, y), self.posterior.inside(x, y))

  def shrunk(self, by_mm: float) -> Torso:
    return Torso(self.anterior.shrunk(by_mm), self.posterior.shrunk(by_mm))

  def inner(self, top: float, bottom: float, half_width: float) -> Torso:
    """A section of the same shape spanning top to bottom, half_width wide (a layer further in)."""
    centre_y, half_depth = (top + bottom) / 2, (bottom - top) / 2
    return Torso(Ellipse(self.cx, centre_y, half_width, half_depth, power=self.anterior.power),
                 Ellipse(self.cx, centre_y, half_width, half_depth, power=self.posterior.power))

  def boundary_point(self, theta: float) -> tuple[float, float, float]:
    half = self.anterior if math.sin(theta) < 0 else self.posterior
    return half.boundary_point(theta)


@dataclasses.dataclass(frozen=True)
class Capsule:
  """A tapering tube segment from (x0, y0) with radius r0 to (x1, y1) with radius r1."""

  x0: float
  y0: float
  x1: float
  y1: float
  r0: float
  r1: float

  @property
  def cx(self) -> float:
    return (self.x0 + self.x1) / 2

  @property
  def cy(self) -> float:
    return (self.y0 + self.y1) / 2

  def extent_mm(self) -> float:
    return math.hypot(self.x1 - self.x0, self.y1 - self.y0) / 2 + max(self.r0, self.r1)

  def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ex, ey = self.x1 - self.x0, self.y1 - self.y0
    length2 = max(ex * ex + ey * ey, 1e-6)
    t = np.clip(((x - self.x0) * ex + (y - self.y0) * ey) / length2, 0.0, 1.0)
    dx, dy = x - self.x0 - t * ex, y - self.y0 - t * ey
    radius = self.r0 + (self.r1 - self.r0) * t
    return dx * dx + dy * dy <= radius * radius

  def shrunk(self, by_mm: float) -> Capsule:
    return dataclasses.replace(self, r0=max(self.r0 - by_mm, 0.1), r1=max(self.r1 - by_mm, 0.1))


@dataclasses.dataclass(frozen=True)
class TableTop:
  """A curved shell of the scanner table: y = top + x^2 / (2 radius), of given thickness."""

  top: float
  radius: float
  thickness: float
  half_width: float
  cx: float = 0.0

  @property
  def cy(self) -> float:
    return self.top

  def extent_mm(self) -> float:
    return self.half_width

  def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    surface = self.top + x * x / (2 * self.radius)
    return (y >= surface) & (y <= surface + self.thickness) & (np.abs(x) <= self.half_width)


def paint(image: np.ndarray, grid: Grid, shape: Shape, hu: float, where: np.ndarray | None = None) -> None:
  """Sets the pixels of image inside shape (and inside the mask where, if given) to hu."""
  window = grid.window(shape.cx, shape.cy, shape.extent_mm())
  inside = shape.inside(*grid.coordinates(window))
  if where is not None:
    inside &= where[window]
  image[window][inside] = hu


def shape_mask(grid: Grid, shape: Shape) -> np.ndarray:
  """The full-image boolean mask of a shape."""
  mask = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
  paint(mask, grid, shape, True)
  return mask
