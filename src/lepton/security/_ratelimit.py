"""Per-key rate limits: a token bucket for each API key, in the server's memory."""

from __future__ import annotations

import threading
import time

from lepton.errors import RateLimitedError


class RateLimiter:
    """Allow ``rate`` requests per second per key on average, bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, max(1, burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Take one token for ``key``, or raise RateLimitedError saying when to retry."""
        if self.rate <= 0:
            return
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
                error = RateLimitedError(
                    f"Too many requests with this API key: the limit is {self.rate:g} per second "
                    f"(bursts of {self.burst}). Retry in {wait:.1f} s, or ask the admin to raise "
                    "the server's --rate-limit."
                )
                error.retry_after = wait  # type: ignore[attr-defined]
                raise error
            self._buckets[key] = (tokens - 1.0, now)
