"""Record accounting: every record read is kept, rejected or skipped, each with a reason.

Counts are flat `{name: int}` so they fit in a manifest: `read`, `kept`,
`rejected:<reason>` and `skipped:<reason>`. Rejected records are documents a filter threw
out (and written aside); skipped ones never became documents (a redirect, a PDF, an error).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping


class AccountingError(RuntimeError):
    """Records went missing or were counted twice: the stage's output cannot be trusted."""


class Tally:
    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def read(self, n: int = 1) -> None:
        self._counts["read"] += n

    def kept(self, n: int = 1) -> None:
        self._counts["kept"] += n

    def rejected(self, reason: str, n: int = 1) -> None:
        self._counts[f"rejected:{reason}"] += n

    def skipped(self, reason: str) -> None:
        self._counts[f"skipped:{reason}"] += 1

    @property
    def read_count(self) -> int:
        return self._counts["read"]

    def add(self, name: str, n: int = 1) -> None:
        """A count outside the balance (records of other types, bytes, timings...)."""
        self._counts[name] += n

    def counts(self) -> dict[str, int]:
        check_balance(self._counts)
        return dict(sorted(self._counts.items()))


def outcome_total(counts: Mapping[str, int], prefix: str) -> int:
    return sum(v for k, v in counts.items() if k.startswith(f"{prefix}:"))


def check_balance(counts: Mapping[str, int], where: str = "") -> None:
    """read == kept + rejected + skipped, or AccountingError naming the difference."""
    read, kept = counts.get("read", 0), counts.get("kept", 0)
    rejected, skipped = outcome_total(counts, "rejected"), outcome_total(counts, "skipped")
    if read != kept + rejected + skipped:
        raise AccountingError(
            f"{where + ': ' if where else ''}records do not add up: read {read} != kept {kept} + "
            f"rejected {rejected} + skipped {skipped} ({read - kept - rejected - skipped:+d} unaccounted)"
        )


def check_handover(upstream: Mapping[str, int], downstream: Mapping[str, int], where: str) -> None:
    """What a stage read must be exactly what the stage before it kept."""
    if upstream.get("kept", 0) != downstream.get("read", 0):
        raise AccountingError(
            f"{where}: read {downstream.get('read', 0)} documents but the stage before kept {upstream.get('kept', 0)}"
        )
