"""Parse a simulator's `--effect` option: one number, or additive KEY=NUMBER terms."""

from __future__ import annotations

from collections.abc import Sequence


def parse_effect_terms(spec: str, keys: Sequence[str]) -> dict[str, float]:
    """'0.03' -> {'base': 0.03}; 'base=0.02,loyalty_high=0.04' -> those terms.

    Every key must be one of `keys`; the message names the bad part and the valid keys."""
    spec = spec.strip()
    try:
        return {"base": float(spec)}
    except ValueError:
        pass
    terms: dict[str, float] = {}
    for part in spec.split(","):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or key not in keys:
            raise ValueError(
                f"--effect: cannot read {part.strip()!r}; expected a number or KEY=NUMBER pairs "
                f"with KEY one of {', '.join(keys)}"
            )
        try:
            terms[key] = float(value)
        except ValueError:
            raise ValueError(f"--effect: {key} must be a number, got {value!r}") from None
    return terms
