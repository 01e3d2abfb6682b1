"""The chunked full-softmax loss equals PyTorch's cross-entropy in value and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lmrec.models.sequential import losses


@pytest.mark.parametrize("n_rows", [1, 255, 256, 600])
@pytest.mark.parametrize("with_untrained", [False, True])
def test_chunked_loss_matches_cross_entropy(n_rows: int, with_untrained: bool) -> None:
    g = torch.Generator().manual_seed(n_rows)
    n_items, d = 300, 16
    hidden = torch.randn(n_rows, d, generator=g, requires_grad=True)
    table = torch.randn(n_items, d, generator=g, requires_grad=True)
    untrained = torch.zeros(n_items, dtype=torch.bool)
    if with_untrained:
        untrained[::7] = True
    targets = torch.randint(0, n_items, (n_rows,), generator=g)
    targets[untrained[targets]] += 1  # targets are trained items

    logits = hidden @ table.T
    if with_untrained:
        logits = logits.masked_fill(untrained[None, :], float("-inf"))
    expected = F.cross_entropy(logits, targets, reduction="sum")
    (expected * 0.5).backward()
    want_h, want_t = hidden.grad.clone(), table.grad.clone()
    hidden.grad = table.grad = None

    got = losses.softmax_loss(
        hidden, targets, table, n_negatives=None, generator=g, untrained=untrained if with_untrained else None
    )
    (got * 0.5).backward()
    assert torch.allclose(got, expected, rtol=1e-5)
    assert torch.allclose(hidden.grad, want_h, atol=1e-5)
    assert torch.allclose(table.grad, want_t, atol=1e-5)
    if with_untrained:
        assert torch.all(table.grad[untrained] == 0)


def test_loss_without_gradients_is_the_plain_cross_entropy() -> None:
    g = torch.Generator().manual_seed(0)
    hidden, table = torch.randn(10, 4, generator=g), torch.randn(20, 4, generator=g)
    targets = torch.arange(10)
    got = losses.softmax_loss(hidden, targets, table, n_negatives=None, generator=g)
    assert torch.allclose(got, F.cross_entropy(hidden @ table.T, targets, reduction="sum"))
