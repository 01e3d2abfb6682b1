"""The epoch loop shared by the torch models (the sequence models and the CTR click models): loss,
optimiser, early stopping on a validation metric, best-on-validation checkpoint and per-epoch progress
(logger "lmrec.train")."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import torch
from tqdm.auto import tqdm

from lmrec.models.epoch_log import EpochLog
from lmrec.models.sequential.checkpoint import TrainingCheckpoint

log = logging.getLogger("lmrec.train")


@dataclass
class TrainingLog(EpochLog):
    """What happened during training (the shared `EpochLog` fields, plus resuming and the loss curve)."""

    resumed_after_epoch: int = 0
    """Epochs taken from a checkpoint of a stopped fit (0: trained in one go)."""
    resumed_seconds: float = 0.0
    """Training seconds the stopped fit(s) had spent before the checkpoint this fit continued from
    (included in `train_seconds`)."""
    pruned: bool = False
    """Stopped by a search's pruner (`report` answered True), not by patience or the epoch count."""
    losses: list[float] = field(default_factory=list)
    """Mean training loss of every epoch run, in order."""
    valid_epochs: list[int] = field(default_factory=list)
    """The epoch of each entry of `valid` (a checkpoint saved before this field existed has none)."""


class Sized(Protocol):
    def __len__(self) -> int: ...


B = TypeVar("B", bound=Sized)


def train(
    net: torch.nn.Module,
    batches: Callable[[int], Iterable[B]],
    step_loss: Callable[[B], torch.Tensor],
    *,
    epochs: int,
    learning_rate: float,
    weight_decay: float,
    validate: Callable[[], float] | None,
    metric: str | None,
    patience: int,
    eval_every: int,
    name: str,
    checkpoint: TrainingCheckpoint | None = None,
    minimize: bool = False,
    min_delta: float = 0.0,
    report: Callable[[int, float], bool] | None = None,
) -> TrainingLog:
    """Adam(W) over `epochs`; with `validate`, stop after `patience` evaluations without improvement and
    restore the best weights (best-on-validation checkpoint).

    batches(epoch): the epoch's batches, each with a `len` (examples; the epoch loss is their mean).
    minimize: lower validation values are better (a loss; default: higher, a ranking metric); an
    evaluation improves when it beats the best so far by more than `min_delta`.

    checkpoint: save the loop's state there as training goes, and continue from a saved state of the same
    fit; the result is the same as training in one go.

    report(epoch, value): called after every validation evaluation (a search's pruner); True stops the
    training there with the best weights so far (`pruned` in the log). A pruned fit saves no checkpoint
    (it is the search's decision, not the end of this fit), and a fit continued from a checkpoint first
    reports the saved evaluations again, so the pruner sees what it would have seen in one go."""
    opt = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=weight_decay)
    info = TrainingLog(metric=metric)
    best_state: dict[str, torch.Tensor] | None = None
    bad, first, done = 0, 1, False
    started = time.perf_counter()
    epoch_seconds, seconds_before = 0.0, 0.0
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        net.load_state_dict(saved["net"])
        opt.load_state_dict(saved["optimizer"])
        best_state, bad, done = saved["best_state"], int(saved["bad"]), bool(saved["done"])
        epoch_seconds, seconds_before = float(saved["epoch_seconds"]), float(saved["train_seconds"])
        info = TrainingLog(
            **{**saved["log"], "resumed_after_epoch": int(saved["epoch"]), "resumed_seconds": seconds_before}
        )
        first = int(saved["epoch"]) + 1
        for epoch, value in zip(info.valid_epochs, info.valid, strict=False):
            if report is not None and report(epoch, value) and not done:
                info.pruned = done = True
                break

    def save(epoch: int, finished: bool) -> None:
        assert checkpoint is not None
        checkpoint.save(
            {
                "epoch": epoch,
                "done": finished,
                "net": net.state_dict(),
                "optimizer": opt.state_dict(),
                "best_state": best_state,
                "bad": bad,
                "log": info.to_dict(),
                "epoch_seconds": epoch_seconds,
                "train_seconds": seconds_before + time.perf_counter() - started,
            }
        )

    for epoch in range(first, epochs + 1):
        if done:
            break
        t0 = time.perf_counter()
        net.train()
        total, count = 0.0, 0
        # a bar only for epochs longer than 10 s (encoder fine-tuning): fast epochs get their log line only
        steps = tqdm(batches(epoch), desc=f"{name} epoch {epoch}", unit="batch", leave=False, delay=10)
        for batch in steps:
            opt.zero_grad(set_to_none=True)
            loss = step_loss(batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{name}: loss became {loss.item()} at epoch {epoch}")
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)
        epoch_seconds += time.perf_counter() - t0
        info.epochs_run = epoch
        info.losses.append(round(total / max(count, 1), 5))
        line = f"{name} epoch {epoch}/{epochs} loss {info.losses[-1]:.4f} ({time.perf_counter() - t0:.1f}s)"
        if validate is not None and (epoch % eval_every == 0 or epoch == epochs):
            net.eval()
            value = float(validate())
            info.valid.append(round(value, 6))
            info.valid_epochs.append(epoch)
            line += f" valid {metric} {value:.4f}"
            if _improves(value, info.best_valid, minimize, min_delta):
                info.best_valid, info.best_epoch, bad = value, epoch, 0
                best_state = copy.deepcopy(net.state_dict())
                line += " *"
            else:
                bad += 1
            if bad >= patience:
                info.stopped_early = done = True
                line += f" — no improvement in {patience} evaluations, stopping"
            if report is not None and report(epoch, value) and not done and epoch < epochs:
                info.pruned = done = True
                line += " — pruned by the search"
        log.info(line)
        done = done or epoch == epochs
        if checkpoint is not None and not info.pruned and (done or checkpoint.due()):
            save(epoch, done)
    if best_state is not None:
        net.load_state_dict(best_state)
    else:
        info.best_epoch = info.epochs_run
    net.eval()
    info.train_seconds = round(seconds_before + time.perf_counter() - started, 3)
    info.seconds_per_epoch = round(epoch_seconds / max(info.epochs_run, 1), 3)
    return info


def _improves(value: float, best: float | None, minimize: bool, min_delta: float) -> bool:
    if best is None:
        return True
    return value < best - min_delta if minimize else value > best + min_delta
