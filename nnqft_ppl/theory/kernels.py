"""Closed-form two-point functions of the HMS20 single-layer nets (PHYSICS.md B.1).

With m(x, y) = sigma_b^2 + sigma_w^2 x.y / d, each kernel is exact at every width
and includes the output bias (variance sigma_b^2) and output-weight variance sigma_w^2.
Each function maps points of shape (n, d) to the (n, n) matrix K(x_i, x_j).
"""

from __future__ import annotations

import numpy as np

__all__ = ["erf_kernel", "relu_kernel", "gauss_kernel"]


def _preactivation_covariance(points, sigma_w, sigma_b):
    points = np.asarray(points, dtype=np.float64)
    return sigma_b**2 + sigma_w**2 * points @ points.T / points.shape[1]


def erf_kernel(points, sigma_w: float, sigma_b: float) -> np.ndarray:
    """K = sigma_b^2 + (2 sigma_w^2/pi) arcsin(2 m_xy / sqrt((1 + 2 m_xx)(1 + 2 m_yy)))."""
    m = _preactivation_covariance(points, sigma_w, sigma_b)
    scale = np.sqrt(1 + 2 * np.diag(m))
    return sigma_b**2 + 2 * sigma_w**2 / np.pi * np.arcsin(2 * m / np.outer(scale, scale))


def relu_kernel(points, sigma_w: float, sigma_b: float) -> np.ndarray:
    """Arc-cosine kernel: K = sigma_b^2 + sigma_w^2/(2 pi) sqrt(m_xx m_yy)(sin t + (pi - t) cos t),
    cos t = m_xy / sqrt(m_xx m_yy)."""
    m = _preactivation_covariance(points, sigma_w, sigma_b)
    norms = np.sqrt(np.outer(np.diag(m), np.diag(m)))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos_t = np.where(norms > 0, np.clip(m / norms, -1.0, 1.0), 1.0)
    t = np.arccos(cos_t)
    return sigma_b**2 + sigma_w**2 / (2 * np.pi) * norms * (np.sin(t) + (np.pi - t) * cos_t)


def gauss_kernel(points, sigma_w: float, sigma_b: float) -> np.ndarray:
    """K = sigma_b^2 + sigma_w^2 exp(-sigma_w^2 |x - y|^2 / (2 d))."""
    points = np.asarray(points, dtype=np.float64)
    squared = np.sum((points[:, None, :] - points[None, :, :]) ** 2, axis=-1)
    return sigma_b**2 + sigma_w**2 * np.exp(-(sigma_w**2) * squared / (2 * points.shape[1]))
