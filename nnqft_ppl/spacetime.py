"""Point sets in Euclidean spacetime R^d: parsing and validation.

Points are float arrays of shape ``(n_points, d)``.  The text form used on the
command line separates points by ``;`` and coordinates by ``,``:
``"0,0;1,0"`` is two points in d = 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["as_points", "parse_points", "load_points"]


def as_points(points, d: int | None = None) -> np.ndarray:
    """Validate and return points as a float64 array of shape ``(n_points, d)``.

    A 1-D input is read as ``n_points`` points in d = 1.  Raises ``ValueError`` for
    an empty set, NaN/inf coordinates, or a dimension other than ``d``.
    """
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"points must be numbers, got {points!r}") from error
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"points must have shape (n_points, d) with n_points, d >= 1, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("points contain NaN or inf")
    if d is not None and array.shape[1] != d:
        raise ValueError(f"dimension mismatch: points have d={array.shape[1]} coordinates, the model has d={d}")
    return array


def parse_points(text: str) -> np.ndarray:
    """Parse ``"x;y;..."`` with comma-separated coordinates, e.g. ``"0,0;1,0"``."""
    rows = [row.strip() for row in text.strip().strip(";").split(";")]
    if not text.strip() or any(not row for row in rows):
        raise ValueError(f"malformed points {text!r}: use ';' between points and ',' between coordinates")
    try:
        coordinates = [[float(value) for value in row.split(",")] for row in rows]
    except ValueError:
        raise ValueError(f"malformed points {text!r}: coordinates must be numbers") from None
    lengths = {len(row) for row in coordinates}
    if len(lengths) != 1:
        raise ValueError(f"malformed points {text!r}: points have different numbers of coordinates")
    return as_points(coordinates)


def load_points(path: str | Path) -> np.ndarray:
    """Read points from a ``.npy`` file or a ``.txt`` file with one point per line
    (coordinates separated by whitespace or commas)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"points file {str(path)!r} does not exist")
    try:
        if path.suffix == ".npy":
            return as_points(np.load(path))
        return as_points(np.loadtxt(path, delimiter="," if "," in path.read_text() else None, ndmin=2))
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read points from {str(path)!r}: {error}") from None
