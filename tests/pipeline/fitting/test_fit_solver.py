"""Block-tridiagonal solver and robust weights."""

import torch

from pipeline.fitting.solver import block_tridiagonal_matvec, normal_blocks, robust, solve_block_tridiagonal


def _system(T=7, K=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(T, K, K, generator=g, dtype=torch.float64)
    s = torch.rand(K, generator=g, dtype=torch.float64) + 0.5
    D = A @ A.transpose(1, 2) + torch.eye(K, dtype=torch.float64) * 0.1 + torch.diag(2 * s)  # SPD overall
    return D, s


def test_block_tridiagonal_matches_dense_solve():
    T, K = 7, 4
    D, s = _system(T, K)
    b = torch.randn(T, K, dtype=torch.float64)
    dense = torch.zeros(T * K, T * K, dtype=torch.float64)
    for t in range(T):
        dense[t * K:(t + 1) * K, t * K:(t + 1) * K] = D[t]
        if t + 1 < T:
            dense[t * K:(t + 1) * K, (t + 1) * K:(t + 2) * K] = -torch.diag(s)
            dense[(t + 1) * K:(t + 2) * K, t * K:(t + 1) * K] = -torch.diag(s)
    x = solve_block_tridiagonal(D, s, b)
    ref = torch.linalg.solve(dense, b.reshape(-1)).reshape(T, K)
    assert torch.allclose(x, ref, atol=1e-10)
    assert torch.allclose(block_tridiagonal_matvec(D, s, x), b, atol=1e-10)
    one = solve_block_tridiagonal(D[:1], s, b[:1])
    assert torch.allclose(D[0] @ one[0], b[0])


def test_robust_losses():
    e = torch.tensor([0.0, 1.0, 3.0, 10.0], dtype=torch.float64)
    rho, w = robust(e, "l2", 3.0)
    assert torch.allclose(rho, 0.5 * e**2) and torch.all(w == 1)
    rho, w = robust(e, "huber", 3.0)
    assert torch.allclose(rho, torch.tensor([0.0, 0.5, 4.5, 30.0 - 4.5], dtype=torch.float64))
    assert torch.allclose(w, torch.tensor([1.0, 1.0, 1.0, 0.3], dtype=torch.float64))
    rho, w = robust(e, "geman_mcclure", 2.0)
    assert rho[-1] < 2.0 and w[-1] < 0.01 and w[0] == 1.0  # bounded cost, outliers ignored
    # IRLS weight is rho'(e)/e: check numerically
    for kind in ("huber", "geman_mcclure"):
        x = torch.tensor([0.7, 2.5, 5.0], dtype=torch.float64, requires_grad=True)
        r, wt = robust(x, kind, 2.0)
        (grad,) = torch.autograd.grad(r.sum(), x)
        assert torch.allclose(grad / x.detach(), wt.detach())


def test_normal_blocks_are_jtwj():
    g = torch.Generator().manual_seed(1)
    J = torch.randn(3, 2, 4, 5, generator=g, dtype=torch.float64)  # (N, 2, K, L) axis-major
    r = torch.randn(3, 2, 5, generator=g, dtype=torch.float64)
    w = torch.rand(3, 5, generator=g, dtype=torch.float64)
    H, gr = normal_blocks(J, r, w)
    for n in range(3):
        Jn = J[n].permute(0, 2, 1).reshape(10, 4)  # rows (axis, landmark)
        W = torch.diag(w[n].repeat(2))
        assert torch.allclose(H[n], Jn.T @ W @ Jn)
        assert torch.allclose(gr[n], Jn.T @ W @ r[n].reshape(10))
