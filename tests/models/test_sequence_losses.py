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


def _sampled_by_hand(
    hidden: torch.Tensor, targets: torch.Tensor, table: torch.Tensor, neg: torch.Tensor
) -> torch.Tensor:
    """Sampled softmax written out row by row: neg (N, K) holds each row's negatives."""
    total = torch.zeros(())
    for row in range(targets.shape[0]):
        keep = neg[row][neg[row] != targets[row]]  # accidental hits of the positive are not negatives
        logits = torch.cat([(hidden[row] * table[targets[row]]).sum()[None], table[keep] @ hidden[row]])
        total = total - torch.log_softmax(logits, dim=0)[0]
    return total


@pytest.mark.parametrize("sharing", ["position", "batch"])
def test_sampled_softmax_matches_the_row_by_row_definition(sharing: str) -> None:
    n_rows, n_items, d, k = 40, 12, 8, 6  # a small catalog, so accidental hits occur
    g = torch.Generator().manual_seed(3)
    hidden, table = torch.randn(n_rows, d, generator=g), torch.randn(n_items, d, generator=g)
    targets = torch.randint(0, n_items, (n_rows,), generator=g)
    seed = 11
    got = losses.softmax_loss(
        hidden,
        targets,
        table,
        n_negatives=k,
        negative_sharing=sharing,
        generator=torch.Generator().manual_seed(seed),
    )
    draw = torch.Generator().manual_seed(seed)
    shape = (n_rows, k) if sharing == "position" else (k,)
    neg = torch.arange(n_items)[torch.randint(0, n_items, shape, generator=draw)].expand(n_rows, k)
    assert bool((neg == targets[:, None]).any())  # the masking is exercised
    assert torch.allclose(got, _sampled_by_hand(hidden, targets, table, neg), rtol=1e-5)


def test_per_position_negatives_differ_between_rows_and_reach_more_items() -> None:
    n_rows, n_items, d, k = 200, 5000, 4, 16
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(n_rows, d, generator=g)
    targets = torch.randint(0, n_items, (n_rows,), generator=g)
    touched = {}
    for sharing in ("position", "batch"):
        table = torch.randn(n_items, d, generator=torch.Generator().manual_seed(1), requires_grad=True)
        loss = losses.softmax_loss(
            hidden,
            targets,
            table,
            n_negatives=k,
            negative_sharing=sharing,
            generator=torch.Generator().manual_seed(2),
        )
        loss.backward()
        touched[sharing] = int((table.grad.abs().sum(dim=1) > 0).sum())
    # gradients reach the positives plus the negatives: ~k items shared vs ~n_rows * k drawn per row
    assert touched["batch"] <= n_rows + k
    assert touched["position"] > n_rows + 10 * k


def test_unknown_negative_sharing_is_an_error() -> None:
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="negative_sharing"):
        losses.softmax_loss(
            torch.randn(2, 3), torch.tensor([0, 1]), torch.randn(5, 3), n_negatives=2, generator=g,
            negative_sharing="user",
        )  # fmt: skip
