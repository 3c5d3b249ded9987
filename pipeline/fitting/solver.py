"""Numerical pieces of the Levenberg-Marquardt fitter: robust weights, normal equations,
and a block-tridiagonal solver for the temporally coupled clip system."""

from __future__ import annotations

import torch

__all__ = ["robust", "normal_blocks", "solve_block_tridiagonal", "block_tridiagonal_matvec"]


def robust(e: torch.Tensor, kind: str, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Robust cost ``rho(e)`` and IRLS weight ``rho'(e) / e`` of residual norms ``e >= 0``.

    ``l2``: ``e^2 / 2``. ``huber`` (threshold ``scale``): quadratic inside, linear outside.
    ``geman_mcclure`` (scale ``c``): ``c^2 e^2 / (2 (c^2 + e^2))``, weight ``c^4 / (c^2 + e^2)^2``.
    """
    if kind == "l2":
        return 0.5 * e * e, torch.ones_like(e)
    if kind == "huber":
        inside = e <= scale
        rho = torch.where(inside, 0.5 * e * e, scale * e - 0.5 * scale * scale)
        w = torch.where(inside, torch.ones_like(e), scale / e.clamp_min(1e-12))
        return rho, w
    if kind == "geman_mcclure":
        c2 = scale * scale
        den = c2 + e * e
        return 0.5 * c2 * e * e / den, (c2 * c2) / (den * den)
    raise ValueError(f"unknown robust loss {kind!r} (huber, geman_mcclure, l2)")


def normal_blocks(jac: torch.Tensor, res: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame Gauss-Newton blocks from axis-major Jacobians.

    ``jac (N, 2, K, L)``, ``res (N, 2, L)``, ``weight (N, L)`` -> ``H (N, K, K) = J^T W J`` and
    ``g (N, K) = J^T W r`` (summed over both image axes and all landmarks).
    """
    H, g = cross_blocks(jac, jac, res, weight)
    return H, g


def cross_blocks(jac_a: torch.Tensor, jac_b: torch.Tensor, res: torch.Tensor | None,
                 weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``J_a^T W J_b (N, Ka, Kb)`` and (optionally) ``J_a^T W r (N, Ka)``; axis-major inputs
    ``(N, 2, K, L)``."""
    N, _, Ka, L = jac_a.shape
    Kb = jac_b.shape[2]
    aw = jac_a * weight[:, None, None, :]
    H = torch.bmm(aw.reshape(2 * N, Ka, L), jac_b.reshape(2 * N, Kb, L).transpose(1, 2)).reshape(N, 2, Ka, Kb).sum(1)
    g = None
    if res is not None:
        g = torch.bmm(aw.reshape(2 * N, Ka, L), res.reshape(2 * N, L, 1)).reshape(N, 2, Ka).sum(1)
    return H, g


def solve_block_tridiagonal(D: torch.Tensor, s: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Solve ``A x = b`` for the SPD block-tridiagonal ``A`` with diagonal blocks ``D (T, K, K)``
    and off-diagonal blocks ``-diag(s)`` (``s (K,)``, the same between every pair of frames).

    Block Thomas algorithm (a block LDL^T): ``O(T K^3)`` time, a loop over frames.
    """
    T = D.shape[0]
    if T == 1:
        return torch.linalg.solve(D[0], b[0])[None]
    chol = []
    y = []
    Sprev_inv = None
    yprev = None
    for t in range(T):
        S = D[t]
        bt = b[t]
        if t > 0:
            S = S - s[:, None] * Sprev_inv * s[None, :]
            bt = bt + s * (Sprev_inv @ yprev)
        L = torch.linalg.cholesky(S)
        Sinv = torch.cholesky_inverse(L)
        chol.append(Sinv)
        y.append(bt)
        Sprev_inv, yprev = Sinv, bt
    x = [None] * T
    x[T - 1] = chol[T - 1] @ y[T - 1]
    for t in range(T - 2, -1, -1):
        x[t] = chol[t] @ (y[t] + s * x[t + 1])
    return torch.stack(x)


def block_tridiagonal_matvec(D: torch.Tensor, s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``A x`` for the matrix of :func:`solve_block_tridiagonal` (used by the tests)."""
    y = torch.einsum("tkm,tm->tk", D, x)
    y[1:] -= s * x[:-1]
    y[:-1] -= s * x[1:]
    return y
