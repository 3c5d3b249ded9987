"""The one Levenberg-Marquardt solver of the fitter, and its numerical pieces.

:func:`levenberg_marquardt` holds the damping schedule, the robust warm-up and the step
acceptance; a fit only assembles its problem (:class:`Problem`: the energy and, at a point,
its damped normal equations as a :class:`NormalSystem`). Two structured systems are here:
:class:`BlockTridiagonalSystem` (the clip fit: frames coupled by the temporal term) and
:class:`ArrowSystem` (the identity fit: independent frames sharing the shape). Also the
robust losses and the Gauss-Newton blocks of axis-major Jacobians.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

import torch

__all__ = ["robust", "normal_blocks", "cross_blocks", "solve_block_tridiagonal", "block_tridiagonal_matvec",
           "damped", "NormalSystem", "BlockTridiagonalSystem", "ArrowSystem", "Linearization", "Problem",
           "Schedule", "SolveResult", "NonFiniteEnergy", "levenberg_marquardt"]

X = TypeVar("X")
Loss = Literal["huber", "geman_mcclure", "l2"]


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


def solve_block_tridiagonal(D: torch.Tensor, s: torch.Tensor, b: torch.Tensor,
                            lower: torch.Tensor | None = None) -> torch.Tensor:
    """Solve ``A x = b`` for the SPD block-tridiagonal ``A`` with diagonal blocks ``D (T, K, K)``
    and off-diagonal blocks ``-diag(s)`` (``s (K,)``, the same between every pair of frames),
    plus ``lower (T-1, K, K)`` when given: then ``A[t+1, t] = -diag(s) + lower[t]`` and
    ``A[t, t+1]`` its transpose (a term that couples the parameters of consecutive frames, the
    optical flow's).

    Block Thomas algorithm (a block LDL^T): ``O(T K^3)`` time, a loop over frames.
    """
    T = D.shape[0]
    if T == 1:
        return torch.linalg.solve(D[0], b[0])[None]
    if lower is not None:
        return _solve_full_coupling(D, torch.diag_embed(-s).expand(T - 1, -1, -1) + lower, b)
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


def _solve_full_coupling(D: torch.Tensor, B: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Block Thomas with full sub-diagonal blocks ``B (T-1, K, K)`` (``A[t+1, t] = B[t]``)."""
    T = D.shape[0]
    inv, y = [], []
    for t in range(T):
        S, bt = D[t], b[t]
        if t > 0:
            BS = B[t - 1] @ inv[-1]
            S = S - BS @ B[t - 1].T
            bt = bt - BS @ y[-1]
        inv.append(torch.cholesky_inverse(torch.linalg.cholesky(S)))
        y.append(bt)
    x = [None] * T
    x[T - 1] = inv[T - 1] @ y[T - 1]
    for t in range(T - 2, -1, -1):
        x[t] = inv[t] @ (y[t] - B[t].T @ x[t + 1])
    return torch.stack(x)


def block_tridiagonal_matvec(D: torch.Tensor, s: torch.Tensor, x: torch.Tensor,
                             lower: torch.Tensor | None = None) -> torch.Tensor:
    """``A x`` for the matrix of :func:`solve_block_tridiagonal` (used by the tests)."""
    y = torch.einsum("tkm,tm->tk", D, x)
    y[1:] -= s * x[:-1]
    y[:-1] -= s * x[1:]
    if lower is not None:
        y[1:] += torch.einsum("tkm,tm->tk", lower, x[:-1])
        y[:-1] += torch.einsum("tmk,tm->tk", lower, x[1:])
    return y


def damped(H: torch.Tensor, mu: float) -> torch.Tensor:
    """Marquardt's damping: ``H + mu diag(H)`` (the diagonal clamped at 1e-9), for one matrix or a batch."""
    return H + torch.diag_embed(mu * torch.diagonal(H, dim1=-2, dim2=-1).clamp_min(1e-9))


class NormalSystem(Protocol):
    """Gauss-Newton normal equations ``H dx = -g`` of a problem at one point."""

    def solve(self, mu: float) -> object:
        """The step of the damped system (:func:`damped`); raises ``RuntimeError`` (e.g.
        ``torch.linalg.LinAlgError``) when the damped matrix is not positive definite."""
        ...


@dataclass
class BlockTridiagonalSystem:
    """``H = blocktridiag(-diag(s) + lower_t, D_t, (-diag(s) + lower_t)^T)`` over frames (``lower``
    ``(T-1, K, K)`` or ``None`` for zeros); ``g (T, K)``. Step ``(T, K)``."""

    D: torch.Tensor
    s: torch.Tensor
    g: torch.Tensor
    lower: torch.Tensor | None = None

    def solve(self, mu: float) -> torch.Tensor:
        return solve_block_tridiagonal(damped(self.D, mu), self.s, -self.g, self.lower)


@dataclass
class ArrowSystem:
    """Per-frame blocks ``Hff (N, K, K)``, ``gf (N, K)`` coupled only through shared unknowns:
    ``Hfg (N, K, G)``, ``Hgg (G, G)``, ``gg (G,)``.

    The per-frame blocks are eliminated (Schur complement), the ``G x G`` system is solved and
    the per-frame steps follow by back-substitution. Step: ``(d_shared (G,), d_frames (N, K))``.
    """

    Hff: torch.Tensor
    gf: torch.Tensor
    Hfg: torch.Tensor
    Hgg: torch.Tensor
    gg: torch.Tensor

    def solve(self, mu: float) -> tuple[torch.Tensor, torch.Tensor]:
        Lf = torch.linalg.cholesky(damped(self.Hff, mu))
        inv_hfg = torch.cholesky_solve(self.Hfg, Lf)  # (N, K, G)
        inv_gf = torch.cholesky_solve(self.gf[..., None], Lf)[..., 0]  # (N, K)
        red = damped(self.Hgg, mu) - torch.einsum("nkg,nkh->gh", self.Hfg, inv_hfg)
        rhs = self.gg - torch.einsum("nkg,nk->g", self.Hfg, inv_gf)
        dg = torch.linalg.solve(red, -rhs)
        return dg, -(inv_gf + torch.einsum("nkg,g->nk", inv_hfg, dg))


@dataclass
class Linearization:
    """A problem's energy at a point and (when asked for, or when cheap) its normal equations."""

    energy: torch.Tensor
    system: NormalSystem | None = None


class Problem(Protocol, Generic[X]):
    """What a fit hands to :func:`levenberg_marquardt`: points of type ``X``."""

    def evaluate(self, x: X, loss: Loss, linearize: bool) -> Linearization:
        """Energy at ``x`` with robust loss ``loss``; with ``linearize`` also the normal equations
        (a problem may return them even when not asked, if it computes them anyway)."""
        ...

    def retract(self, x: X, step: object) -> X:
        """The point ``x`` moved by a step of its :class:`NormalSystem`."""
        ...


@dataclass(frozen=True)
class Schedule:
    """Iterations, damping and robust warm-up of one solve.

    ``loss`` is the final robust loss; when it is ``geman_mcclure`` (not convex) and ``warmup > 0``,
    a first phase of up to ``warmup`` iterations uses Huber. A phase ends early when a step
    lowers the energy by less than ``tolerance`` (relative) or when no damping up to
    ``damping x 10^7`` ... ``x 10^8`` finds a descent ("stalled": at a minimum).

    How the warm-up shares the budget and the damping (the two fits have always differed here,
    and their outputs are pinned by golden tests):

    - ``warmup_within_budget`` True (identity fit): the warm-up's iterations, a stalled one
      included, count against ``iterations``, and the warm-up is cut to ``iterations``;
      False (clip fit): the warm-up runs up to ``warmup`` accepted steps on top, and the final
      phase gets ``max(1, iterations - warm-up steps)``.
    - ``carry_damping`` True (identity fit): the final phase starts from the warm-up's last
      damping; False (clip fit): from ``damping`` again.
    """

    iterations: int
    tolerance: float
    damping: float
    loss: Loss
    warmup: int = 0
    warmup_within_budget: bool = False
    carry_damping: bool = False

    @property
    def warms_up(self) -> bool:
        return self.loss == "geman_mcclure" and self.warmup > 0


@dataclass
class SolveResult(Generic[X]):
    """``x`` the solution; ``converged``: the final phase stopped on the tolerance or at a
    minimum (not on the iteration budget); ``steps``: accepted steps, both phases."""

    x: X
    converged: bool
    steps: int


class NonFiniteEnergy(RuntimeError):
    """The energy became non-finite; ``iteration`` (1-based) over both phases."""

    def __init__(self, iteration: int):
        super().__init__(f"non-finite energy at iteration {iteration}")
        self.iteration = iteration


@dataclass
class _Phase(Generic[X]):
    x: X
    converged: bool
    steps: int
    stalled: bool
    mu: float


def _phase(problem: Problem[X], x: X, loss: Loss, budget: int, mu: float, tolerance: float,
           first_iteration: int) -> _Phase[X]:
    """Levenberg-Marquardt with one robust loss for at most ``budget`` iterations."""
    lin = problem.evaluate(x, loss, True)
    steps = 0
    for k in range(budget):
        if not torch.isfinite(lin.energy):
            raise NonFiniteEnergy(first_iteration + k)
        if lin.system is None:  # the accepted point was evaluated without its normal equations
            lin = problem.evaluate(x, loss, True)
        assert lin.system is not None
        trial = None
        for _ in range(8):
            try:
                step = lin.system.solve(mu)
            except RuntimeError:  # not positive definite: more damping
                mu *= 10.0
                continue
            xn = problem.retract(x, step)
            trial = problem.evaluate(xn, loss, False)
            if torch.isfinite(trial.energy) and trial.energy < lin.energy:
                break
            trial = None
            mu *= 10.0
        if trial is None:  # no descent left at any damping: a minimum
            return _Phase(x, True, steps, True, mu)
        steps += 1
        rel = float((lin.energy - trial.energy) / lin.energy.clamp_min(1e-12))
        x, lin = xn, trial
        mu = max(mu * 0.3, 1e-9)
        if rel < tolerance:
            return _Phase(x, True, steps, False, mu)
    return _Phase(x, False, steps, False, mu)


def levenberg_marquardt(problem: Problem[X], x: X, schedule: Schedule) -> SolveResult[X]:
    """Minimise ``problem``'s energy from ``x``: a step is accepted only when the energy drops
    (the damping is multiplied by 10 until it does, at most 8 times, and by 0.3 after an
    accepted step, never below 1e-9); robust warm-up as in :class:`Schedule`.

    Raises :class:`NonFiniteEnergy` when the energy at the current point is not finite.
    """
    sc = schedule
    mu, steps, used = sc.damping, 0, 0
    if sc.warms_up:
        budget = min(sc.warmup, sc.iterations) if sc.warmup_within_budget else sc.warmup
        warm = _phase(problem, x, "huber", budget, mu, sc.tolerance, 1)
        x, steps = warm.x, warm.steps
        used = warm.steps + (1 if warm.stalled and sc.warmup_within_budget else 0)
        if sc.carry_damping:
            mu = warm.mu
    final_budget = sc.iterations - used if sc.warmup_within_budget else max(1, sc.iterations - used)
    if final_budget <= 0:
        return SolveResult(x, False, steps)
    final = _phase(problem, x, sc.loss, final_budget, mu, sc.tolerance, used + 1)
    return SolveResult(final.x, final.converged, steps + final.steps)
