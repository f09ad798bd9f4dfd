"""Retry schedule: exponential backoff with full jitter, capped, up to a deadline."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Delay before retry number ``attempt`` (1-based).

    Full jitter (uniform in [0, cap]) spreads retries of many notifiers that
    failed together, so a platform coming back is not hit by all at once;
    the lower bound of half the cap keeps the schedule growing.
    """
    cap = min(maximum, initial * (2 ** max(0, attempt - 1)))
    return rng.uniform(cap / 2, cap)


def next_retry_at(now: float, attempt: int, first_failed_at: float, deadline: float, initial: float,
                  maximum: float, rng: random.Random, retry_after: float | None = None) -> float | None:
    """When to try again, or None when the deadline has passed (dead letter).

    A platform's ``Retry-After`` wins over our own schedule when longer.
    """
    delay = backoff_delay(attempt, initial, maximum, rng)
    if retry_after is not None:
        delay = max(delay, retry_after)
    due = now + delay
    if due > first_failed_at + deadline:
        return None
    return due
