"""Fault injection: the bad days of a real API, at chosen rates, for tests and demos."""

from __future__ import annotations

import random
from dataclasses import dataclass, fields

__all__ = ["FAULT_KINDS", "Faults"]

#: Spec names (as in ``--faults 503=0.1,drop=0.05``) and what each does.
FAULT_KINDS: dict[str, str] = {
    "429": "429 Too Many Requests with a Retry-After header",
    "429-bare": "429 Too Many Requests without Retry-After",
    "500": "500 Internal Server Error",
    "502": "502 Bad Gateway",
    "503": "503 Service Unavailable",
    "slow": "the answer comes after slow-seconds (beyond a client's timeout)",
    "drop": "the connection is closed with no answer",
    "malformed": "200 with a body that is not JSON",
    "truncated": "200 whose body stops half-way",
    "glitch": "200 whose batch objects are wrong: stale or impossible counts, an unknown status, "
    "missing fields or wrong types",
}
_FIELD_BY_KIND = {
    "429": "rate_limit",
    "429-bare": "rate_limit_bare",
    "500": "server_error",
    "502": "bad_gateway",
    "503": "unavailable",
    "slow": "slow",
    "drop": "drop",
    "malformed": "malformed",
    "truncated": "truncated",
    "glitch": "glitch",
}
_SETTINGS = {
    "retry-after": "retry_after",
    "slow-seconds": "slow_seconds",
    "burst": "burst",
    "seed": "seed",
}
#: Faults that come in runs of ``burst`` requests: a rate limit, once hit, stays hit a while.
_BURSTY = frozenset({"429", "429-bare"})


@dataclass
class Faults:
    """Probability of each fault per API request (they add up to at most 1)."""

    rate_limit: float = 0.0
    rate_limit_bare: float = 0.0
    server_error: float = 0.0
    bad_gateway: float = 0.0
    unavailable: float = 0.0
    slow: float = 0.0
    drop: float = 0.0
    malformed: float = 0.0
    truncated: float = 0.0
    glitch: float = 0.0
    retry_after: float = 1.0
    slow_seconds: float = 35.0
    burst: int = 1
    seed: int | None = None

    def __post_init__(self) -> None:
        rates = [getattr(self, f) for f in _FIELD_BY_KIND.values()]
        if any(r < 0 for r in rates) or sum(rates) > 1.0 + 1e-9:
            raise ValueError("fault rates must be between 0 and 1 and add up to at most 1")
        if self.burst < 1:
            raise ValueError("burst must be 1 or more requests")
        self._rng = random.Random(self.seed)
        self._bursting: tuple[str, int] | None = None

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """``"503=0.2,drop=0.05,429=0.1,retry-after=2,slow-seconds=40,seed=7"``."""
        values: dict[str, float | int] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, sep, raw = part.partition("=")
            name = name.strip().lower()
            attribute = _FIELD_BY_KIND.get(name) or _SETTINGS.get(name)
            if not sep or attribute is None:
                known = ", ".join([*FAULT_KINDS, *_SETTINGS])
                raise ValueError(f"bad fault {part!r}: expected NAME=VALUE with NAME one of {known}")
            try:
                values[attribute] = int(raw) if attribute in ("seed", "burst") else float(raw)
            except ValueError:
                raise ValueError(f"bad fault {part!r}: {raw!r} is not a number") from None
        return cls(**values)  # type: ignore[arg-type]

    def describe(self) -> str:
        active = [
            f"{kind}={getattr(self, attr):g}" for kind, attr in _FIELD_BY_KIND.items() if getattr(self, attr)
        ]
        if active and self.burst > 1:
            active.append(f"burst={self.burst}")
        return ", ".join(active) or "none"

    @property
    def any(self) -> bool:
        return any(getattr(self, attr) for attr in _FIELD_BY_KIND.values())

    def draw(self) -> str | None:
        """The fault for the next request (its spec name), or None for a normal answer."""
        if self._bursting is not None:
            kind, left = self._bursting
            self._bursting = (kind, left - 1) if left > 1 else None
            return kind
        if not self.any:
            return None
        roll = self._rng.random()
        for kind, attribute in _FIELD_BY_KIND.items():
            roll -= getattr(self, attribute)
            if roll < 0:
                if kind in _BURSTY and self.burst > 1:
                    self._bursting = (kind, self.burst - 1)
                return kind
        return None

    @property
    def rng(self) -> random.Random:
        """The seeded randomness faults draw from (glitches pick theirs from it too)."""
        return self._rng

    def copy(self) -> Faults:
        return Faults(**{f.name: getattr(self, f.name) for f in fields(self)})
