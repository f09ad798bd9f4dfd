"""Token bucket per destination: the platforms throttle per robot, and a
DingTalk robot that goes over 20/min is muted for ten minutes."""

from __future__ import annotations


class TokenBucket:
    def __init__(self, rate_per_second: float, burst: int, now: float) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate_per_second
        self.burst = float(burst)
        self.tokens = float(burst)
        self.updated = now
        self.blocked_until = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 if now)."""
        self._refill(now)
        blocked = max(0.0, self.blocked_until - now)
        if self.tokens >= 1.0:
            return blocked
        return max(blocked, (1.0 - self.tokens) / self.rate)

    def take(self, now: float) -> bool:
        """Take a token if one is available now."""
        if self.wait_time(now) > 0:
            return False
        self.tokens -= 1.0
        return True

    def block(self, now: float, seconds: float) -> None:
        """The platform told us to slow down (429 Retry-After, a throttling
        errcode): no sends to this destination until then."""
        self.blocked_until = max(self.blocked_until, now + seconds)
        self._refill(now)
        self.tokens = 0.0
