"""Pairing messages of several streams by header stamp (no ROS imports).

A small stand-in for message_filters' approximate-time policy, which is not installable
here: each stream keeps its last few messages keyed by stamp (integer nanoseconds), and
a lookup returns the one nearest to a stamp within a tolerance.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any


class StampCache:
    """The last ``size`` items of one stream, by stamp in nanoseconds (arrival order)."""

    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f'cache size must be at least 1, got {size}')
        self.size = size
        self._items: OrderedDict[int, Any] = OrderedDict()
        self.latest: int | None = None  # newest stamp ever added

    def __len__(self) -> int:
        return len(self._items)

    def add(self, stamp_ns: int, item: Any) -> list[tuple[int, Any]]:
        """Keep ``item``; returns the (stamp, item) pairs pushed out by it (oldest first)."""
        self._items.pop(stamp_ns, None)
        self._items[stamp_ns] = item
        self.latest = stamp_ns if self.latest is None else max(self.latest, stamp_ns)
        evicted = []
        while len(self._items) > self.size:
            evicted.append(self._items.popitem(last=False))
        return evicted

    def nearest(self, stamp_ns: int, tolerance_ns: int) -> tuple[int, Any] | None:
        """(stamp, item) with the stamp nearest to ``stamp_ns`` and at most
        ``tolerance_ns`` away (0: the exact stamp only), or None."""
        if tolerance_ns <= 0:
            item = self._items.get(stamp_ns)
            return None if item is None else (stamp_ns, item)
        best = min(self._items, key=lambda s: abs(s - stamp_ns), default=None)
        if best is None or abs(best - stamp_ns) > tolerance_ns:
            return None
        return best, self._items[best]

    def pop(self, stamp_ns: int) -> Any:
        return self._items.pop(stamp_ns)

    def items(self) -> list[tuple[int, Any]]:
        return list(self._items.items())

    def passed(self, stamp_ns: int, tolerance_ns: int) -> bool:
        """True when this stream has moved beyond ``stamp_ns + tolerance_ns``: (with
        in-order delivery) no item that could match ``stamp_ns`` will come any more."""
        return self.latest is not None and self.latest > stamp_ns + max(tolerance_ns, 0)

    def clear(self) -> None:
        self._items.clear()
