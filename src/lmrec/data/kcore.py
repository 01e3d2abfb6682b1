"""Iterative user/item k-core over event index arrays, and the `Removal` it reports for `clean`.

Each round drops every live event whose user has fewer than `user_core` live events or whose item has
fewer than `item_core`, then recounts; it stops when a round removes nothing. Counting is one `bincount`
per side and round, so a round costs O(events).
"""

from __future__ import annotations

import numpy as np

from lmrec.data.cleaning_report import N_EXAMPLES, CoreRound, Examples, Removal


def k_core(
    users: np.ndarray, items: np.ndarray, alive: np.ndarray, n_users: int, n_items: int, ku: int, ki: int
) -> tuple[list[CoreRound], np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Iterate user/item minimum counts until stable; updates `alive` in place.

    Returns the rounds, the round (1-based, 0 = kept) that removed each row, and per-round counts.
    """
    rounds: list[CoreRound] = []
    round_of = np.zeros(users.size, np.int16)
    counts: list[tuple[np.ndarray, np.ndarray]] = []
    uc = np.bincount(users[alive], minlength=n_users)
    ic = np.bincount(items[alive], minlength=n_items)
    while True:
        rm = alive & ((uc < ku)[users] | (ic < ki)[items])
        n_rm = int(np.count_nonzero(rm))
        if not n_rm:
            return rounds, round_of, counts
        counts.append((uc, ic))
        alive &= ~rm
        round_of[rm] = len(rounds) + 1
        uc2 = np.bincount(users[alive], minlength=n_users)
        ic2 = np.bincount(items[alive], minlength=n_items)
        rounds.append(
            CoreRound(
                round=len(rounds) + 1,
                rows_removed=n_rm,
                users_removed=int(np.count_nonzero((uc > 0) & (uc2 == 0))),
                items_removed=int(np.count_nonzero((ic > 0) & (ic2 == 0))),
            )
        )
        uc, ic = uc2, ic2


def core_removal(
    users: np.ndarray,
    items: np.ndarray,
    alive: np.ndarray,
    pos: np.ndarray,
    n_users: int,
    n_items: int,
    user_core: int,
    item_core: int,
    ex: Examples,
) -> tuple[list[CoreRound], Removal | None]:
    """Run the k-core on the `alive` rows (updated in place); rounds and the removal, if any."""
    rounds, round_of, counts = k_core(users, items, alive, n_users, n_items, user_core, item_core)
    if not rounds:
        return rounds, None
    cored = np.flatnonzero(round_of > 0)
    sample = cored[np.argpartition(pos[cored], N_EXAMPLES)[:N_EXAMPLES]] if cored.size > N_EXAMPLES else cored
    by_pos = {int(pos[c]): int(c) for c in sample}

    def cause(p: int) -> tuple[str, str]:
        c = by_pos[p]
        rnd = int(round_of[c])
        uc, ic = counts[rnd - 1]
        if uc[users[c]] < user_core:
            return "user", f"user has {uc[users[c]]} < {user_core} events (k-core round {rnd})"
        return "item", f"item has {ic[items[c]]} < {item_core} events (k-core round {rnd})"

    examples = ex(np.array(sorted(by_pos)), lambda p: cause(p)[0], lambda p: cause(p)[1])
    return rounds, Removal(cored.size, examples)
