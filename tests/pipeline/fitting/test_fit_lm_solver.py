"""The one Levenberg-Marquardt solver (pipeline.fitting.solver.levenberg_marquardt) on small
problems with known answers: scipy.optimize.least_squares, and the warm-up schedule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from scipy.optimize import least_squares

from pipeline.fitting.solver import (ArrowSystem, Linearization, NonFiniteEnergy, Schedule, damped,
                                     levenberg_marquardt, robust)

T = np.linspace(0.0, 3.0, 40)
TRUE = np.array([2.0, -1.3, 0.5])


def _data(outliers: bool) -> np.ndarray:
    rng = np.random.default_rng(0)
    y = TRUE[0] * np.exp(TRUE[1] * T) + TRUE[2] + rng.normal(scale=0.02, size=T.size)
    if outliers:
        y[[5, 17, 30]] += [1.5, -2.0, 1.0]
    return y


def _residuals(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    return p[0] * np.exp(p[1] * T) + p[2] - y


@dataclass
class _DenseSystem:
    H: torch.Tensor
    g: torch.Tensor

    def solve(self, mu: float) -> torch.Tensor:
        return torch.linalg.solve(damped(self.H, mu), -self.g)


class _CurveFit:
    """``y ~ a exp(b t) + c`` with a robust loss on the residuals (IRLS Gauss-Newton)."""

    def __init__(self, y: np.ndarray, scale: float = 1.0):
        self.t, self.y, self.scale = torch.as_tensor(T), torch.as_tensor(y), scale
        self.losses: list[str] = []

    def evaluate(self, p: torch.Tensor, loss, linearize: bool) -> Linearization:
        self.losses.append(loss)
        e = torch.exp(p[1] * self.t)
        r = p[0] * e + p[2] - self.y
        rho, w = robust(r.abs(), loss, self.scale)
        if not linearize:
            return Linearization(rho.sum())
        J = torch.stack([e, p[0] * self.t * e, torch.ones_like(e)], 1)
        return Linearization(rho.sum(), _DenseSystem(J.T @ (w[:, None] * J), J.T @ (w * r)))

    def retract(self, p: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        return p + step


X0 = torch.tensor([1.0, -0.5, 0.0], dtype=torch.float64)


def test_least_squares_matches_scipy():
    y = _data(outliers=False)
    res = levenberg_marquardt(_CurveFit(y), X0, Schedule(100, 1e-14, 1e-3, "l2"))
    ref = least_squares(_residuals, X0.numpy(), args=(y,), method="lm", xtol=1e-14, ftol=1e-14, gtol=1e-14)
    assert res.converged and 3 <= res.steps < 100
    np.testing.assert_allclose(res.x.numpy(), ref.x, atol=1e-7)


def test_huber_matches_scipy_robust_least_squares():
    # scipy's huber cost 1/2 f^2 rho(r^2/f^2) is the solver's huber rho(|r|) with threshold f
    y = _data(outliers=True)
    res = levenberg_marquardt(_CurveFit(y, scale=0.1), X0, Schedule(200, 1e-15, 1e-3, "huber"))
    ref = least_squares(_residuals, X0.numpy(), args=(y,), loss="huber", f_scale=0.1, xtol=1e-15, ftol=1e-15,
                        gtol=1e-15)
    assert res.converged
    np.testing.assert_allclose(res.x.numpy(), ref.x, atol=1e-6)
    plain = least_squares(_residuals, X0.numpy(), args=(y,), method="lm").x
    assert np.abs(res.x.numpy() - TRUE).max() < np.abs(plain - TRUE).max()  # the outliers matter


def test_geman_mcclure_warm_up_then_redescending_loss():
    y = _data(outliers=True)
    prob = _CurveFit(y, scale=0.1)
    res = levenberg_marquardt(prob, X0, Schedule(50, 1e-12, 1e-3, "geman_mcclure", warmup=3))
    assert prob.losses[0] == "huber" and prob.losses[-1] == "geman_mcclure"
    assert prob.losses.count("huber") >= 2  # a linearisation and at least one trial
    np.testing.assert_allclose(res.x.numpy(), TRUE, atol=0.05)


@pytest.mark.parametrize("within, expect_huber, expect_final", [(True, 3, 0), (False, 5, 1)])
def test_warm_up_budget(within, expect_huber, expect_final):
    """Slow progress (heavy damping, tolerance 0): every iteration is an accepted step."""
    prob = _CurveFit(_data(outliers=False), scale=0.1)
    res = levenberg_marquardt(prob, X0, Schedule(3, 0.0, 1e6, "geman_mcclure", warmup=5,
                                                 warmup_within_budget=within))
    assert res.steps == expect_huber + expect_final and not res.converged
    # per phase: one linearisation, then per accepted step a trial (energy only) and, unless it
    # was the phase's last, the trial point's linearisation
    n_evals = lambda steps: 2 * steps if steps else 0  # noqa: E731
    assert prob.losses.count("huber") == n_evals(expect_huber)
    assert prob.losses.count("geman_mcclure") == n_evals(expect_final)


def test_carry_damping_changes_only_the_final_phase_start():
    y = _data(outliers=True)
    a = levenberg_marquardt(_CurveFit(y, 0.1), X0, Schedule(3, 0.0, 1e3, "geman_mcclure", warmup=2,
                                                             carry_damping=True))
    b = levenberg_marquardt(_CurveFit(y, 0.1), X0, Schedule(3, 0.0, 1e3, "geman_mcclure", warmup=2,
                                                             carry_damping=False))
    # the final phase starts from 1e3 * 0.3^2 against 1e3: a longer step
    assert a.steps == b.steps and not torch.allclose(a.x, b.x)


def test_non_finite_energy_names_the_iteration():
    class Broken(_CurveFit):
        def evaluate(self, p, loss, linearize):
            lin = super().evaluate(p, loss, linearize)
            return Linearization(lin.energy * float("nan"), lin.system)

    with pytest.raises(NonFiniteEnergy, match="iteration 1"):
        levenberg_marquardt(Broken(_data(False)), X0, Schedule(5, 1e-6, 1e-3, "l2"))


def test_arrow_system_matches_the_dense_damped_solve():
    g = torch.Generator().manual_seed(1)
    N, K, G = 4, 3, 2
    A = torch.randn(N * K + G, N * K + G, generator=g, dtype=torch.float64)
    H = A @ A.T + torch.eye(N * K + G, dtype=torch.float64)
    for i in range(N):  # frames do not see each other
        for j in range(N):
            if i != j:
                H[i * K:(i + 1) * K, j * K:(j + 1) * K] = 0
    grad = torch.randn(N * K + G, generator=g, dtype=torch.float64)
    Hff = torch.stack([H[i * K:(i + 1) * K, i * K:(i + 1) * K] for i in range(N)])
    Hfg = H[:N * K, N * K:].reshape(N, K, G)
    sys_ = ArrowSystem(Hff, grad[:N * K].reshape(N, K), Hfg, H[N * K:, N * K:], grad[N * K:])
    dg, dxf = sys_.solve(0.1)
    ref = torch.linalg.solve(damped(H, 0.1), -grad)
    assert torch.allclose(torch.cat([dxf.reshape(-1), dg]), ref, atol=1e-10)
