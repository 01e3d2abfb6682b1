"""Training examples and model inputs built from item sequences (numpy in, torch tensors out).

Batches group users of similar length (after a seeded shuffle), so a batch is padded to its own longest
sequence, not to `max_len`: on the Amazon sets, where most sequences hold 5-10 items, this is most of
the speed of an epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

PAD = 0


def to_tokens(items: np.ndarray) -> np.ndarray:
    """Item indices -> tokens (0 is padding)."""
    return np.asarray(items, dtype=np.int64) + 1


def pad_right(rows: Sequence[np.ndarray], width: int | None = None) -> torch.Tensor:
    """(B, width) int64 tensor of right-padded token rows."""
    width = max((len(r) for r in rows), default=0) if width is None else width
    out = np.zeros((len(rows), max(width, 1)), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return torch.from_numpy(out)


def length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Index batches of rows with similar length, in random order (seeded)."""
    order = rng.permutation(lengths.shape[0])
    order = order[np.argsort(lengths[order], kind="stable")]
    batches = [order[s : s + batch_size] for s in range(0, order.shape[0], batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


@dataclass(frozen=True)
class CausalBatch:
    """Inputs and next-item targets (tokens, 0 where there is none) of a causal model."""

    tokens: torch.Tensor
    targets: torch.Tensor

    def __len__(self) -> int:
        """Sequences in the batch."""
        return int(self.tokens.shape[0])


def causal_examples(sequences: Sequence[np.ndarray], max_len: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per user with >= 2 items: (input, target) token rows of the last `max_len` next-item steps."""
    out = []
    for seq in sequences:
        if len(seq) < 2:
            continue
        tok = to_tokens(seq[-(max_len + 1) :])
        out.append((tok[:-1], tok[1:]))
    return out


def causal_batches(
    examples: list[tuple[np.ndarray, np.ndarray]], batch_size: int, rng: np.random.Generator
) -> Iterator[CausalBatch]:
    lengths = np.array([len(x) for x, _ in examples])
    for idx in length_batches(lengths, batch_size, rng):
        yield CausalBatch(
            tokens=pad_right([examples[i][0] for i in idx]),
            targets=pad_right([examples[i][1] for i in idx]),
        )


def masked_batches(
    sequences: Sequence[np.ndarray],
    max_len: int,
    batch_size: int,
    mask_prob: float,
    mask_token: int,
    rng: np.random.Generator,
    last_only_prob: float = 0.0,
) -> Iterator[CausalBatch]:
    """BERT4Rec's cloze examples: each position of the last `max_len` items is masked with probability
    `mask_prob` (at least one per sequence); targets hold the true token at masked positions only.
    With probability `last_only_prob` a sequence instead has only its last item masked, the shape of the
    inference input (as in the original BERT4Rec's extra "mask the last item" samples)."""
    rows = [to_tokens(s[-max_len:]) for s in sequences if len(s) >= 2]
    lengths = np.array([len(r) for r in rows])
    for idx in length_batches(lengths, batch_size, rng):
        tokens = pad_right([rows[i] for i in idx])
        real = tokens != PAD
        draw = torch.from_numpy(rng.random(tuple(tokens.shape)) < mask_prob) & real
        last_only = torch.from_numpy(rng.random(len(idx)) < last_only_prob)
        if last_only.any():
            n_real_rows = real.sum(dim=1)
            draw[last_only] = False
            draw[last_only.nonzero().squeeze(1), n_real_rows[last_only] - 1] = True
        none = ~draw.any(dim=1)
        if none.any():  # mask one random real position of sequences that drew none
            n_real = real[none].sum(dim=1).numpy()
            pick = torch.from_numpy((rng.random(n_real.shape[0]) * n_real).astype(np.int64))
            draw[none.nonzero().squeeze(1), pick] = True
        targets = torch.where(draw, tokens, torch.zeros_like(tokens))
        yield CausalBatch(
            tokens=torch.where(draw, torch.full_like(tokens, mask_token), tokens), targets=targets
        )


def last_window(
    sequences: Sequence[np.ndarray], max_len: int, width: int, append: int | None = None
) -> torch.Tensor:
    """Tokens of each sequence's last `max_len` items right-padded to `width` (optionally with a token
    appended, e.g. BERT4Rec's mask, which then takes the last of the `max_len` slots)."""
    rows = []
    for seq in sequences:
        keep = max_len - (append is not None)
        tok = to_tokens(seq[-keep:]) if keep > 0 and len(seq) else np.empty(0, dtype=np.int64)
        if append is not None:
            tok = np.append(tok, append)
        rows.append(tok)
    return pad_right(rows, width)
