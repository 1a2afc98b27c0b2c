"""What SGD does on f(x) = ‖x − k‖² with an unbiased estimator: the predictions the presets are read against.

The derivations are in docs/maths.md ("SGD on the square", "D dimensions", "Learnable scale").
Step η, n samples per step, σ fixed unless said otherwise.

- Pathwise's stationary law is exactly N(k, ησ²/(n(1 − η)) I): E‖μ − k‖² = Dησ²/(n(1 − η)), for
  every η < 1.
- The score function's mean square stays bounded only below η_c, the root of the Gaussian closure
  of its quartic variance term, η_c = 4n/(4n + 2D² + 8D + 4 + 2(D + 2)√(D(D + 4))) ≈ n/D²; with
  a constant step, runs near η_c are metastable and escape.
- A learned scale on the bare J: ∂J/∂s = 2Dσ² for a shared s (2σ_i² per coordinate if diagonal),
  so σ² decays harmonically, 1/σ_t² ≈ 1/σ₀² + 4cηt with c = D (shared) or 1 (diagonal).
- With the entropy term λH, stationarity of E[s] forces E[σ²] = λ/2 in every coordinate, and
  pathwise's E‖μ − k‖² is then Dηλ/(2n(1 − η)) exactly.
"""

from __future__ import annotations

import math

import numpy as np


def score_critical_step(dim: int, n_samples: int) -> float:
    """η_c: above it the score function's mean square on the square has no stationary value."""
    d, n = float(dim), float(n_samples)
    return 4 * n / (4 * n + 2 * d**2 + 8 * d + 4 + 2 * (d + 2) * math.sqrt(d * (d + 4)))


def pathwise_stationary(dim: int, lr: float, n_samples: int, sigma: float = 1.0) -> float:
    """E‖μ − k‖² at stationarity under pathwise SGD with σ fixed."""
    return dim * lr * sigma**2 / (n_samples * (1 - lr))


def entropy_stationary(dim: int, lr: float, n_samples: int, entropy_weight: float = 1.0) -> float:
    """E‖μ − k‖² at stationarity under pathwise SGD on J_λ with a learned σ, where E[σ²] = λ/2."""
    return dim * lr * entropy_weight / (2 * n_samples * (1 - lr))


def harmonic_sigma(
    sigma0: float, lr: float, steps: np.ndarray, dim: int = 1, scale: str = "shared"
) -> np.ndarray:
    """σ_t on the bare J with a learned scale: (σ₀⁻² + 4cηt)^(−1/2), c = D shared, 1 diagonal."""
    c = dim if scale == "shared" else 1
    return (sigma0**-2 + 4 * c * lr * np.asarray(steps, dtype=float)) ** -0.5
