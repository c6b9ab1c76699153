"""The named rules for picking a record, used by search, report, select, plots and bench.

- `best_of`: the operating point's best. For `max_fp`: lowest val FN among records meeting the
  val FP target; for `max_fn`: lowest val FP among those meeting the val FN target; for
  `balanced`: lowest FP + FN. Cheapest on ties; with `fallback`, the closest record when none
  meets the target.
- `cheapest_meeting`: cheapest record with val FN <= max_fn and val FP <= max_fp (release).
- `closest`: the record nearest to meeting both limits (what to tell a user when none does).

Every comparison uses one tolerance, `defaults.RATE_TOL`.
"""

from __future__ import annotations

from collections.abc import Iterable

from autocrop.defaults import RATE_TOL
from autocrop.records import TrialRecord

__all__ = ["meets", "best_of", "ranked", "cheapest_meeting", "closest"]


def meets(rec: TrialRecord, max_fp: float | None = None, max_fn: float | None = None) -> bool:
    return (max_fp is None or rec.val_fp <= max_fp + RATE_TOL) and (max_fn is None or rec.val_fn <= max_fn + RATE_TOL)


def ranked(records: Iterable[TrialRecord], target: float, rule: str = "max_fp") -> list[TrialRecord]:
    """Records meeting the operating point's target, best first (see the module's docstring)."""
    if rule == "max_fp":
        return sorted((r for r in records if meets(r, max_fp=target)), key=lambda r: (r.val_fn, r.val_fp, r.cost_madds))
    if rule == "max_fn":
        return sorted((r for r in records if meets(r, max_fn=target)), key=lambda r: (r.val_fp, r.val_fn, r.cost_madds))
    if rule == "balanced":
        return sorted(records, key=lambda r: (r.val_fp + r.val_fn, r.cost_madds))
    raise ValueError(f"`rule` must be one of max_fp, max_fn, balanced, but got {rule!r}.")


def best_of(records: Iterable[TrialRecord], target: float, rule: str = "max_fp", fallback: bool = True) -> TrialRecord | None:
    """The operating point's best record; when none meets the target, the one with the lowest
    val FP + FN (with `fallback`) or None."""
    records = list(records)
    ok = ranked(records, target, rule)
    if ok:
        return ok[0]
    if not fallback or not records:
        return None
    return min(records, key=lambda r: (r.val_fp + r.val_fn, r.cost_madds))


def cheapest_meeting(records: Iterable[TrialRecord], max_fn: float, max_fp: float) -> TrialRecord | None:
    ok = [r for r in records if meets(r, max_fp=max_fp, max_fn=max_fn)]
    return min(ok, key=lambda r: (r.cost_madds, r.val_fn, r.val_fp)) if ok else None


def closest(records: Iterable[TrialRecord], max_fn: float, max_fp: float) -> TrialRecord:
    """The record with the smallest total excess over both limits."""
    return min(records, key=lambda r: (max(r.val_fn - max_fn, 0) + max(r.val_fp - max_fp, 0), r.cost_madds))
