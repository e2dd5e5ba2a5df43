"""The latency bucket grid (integer microseconds), sparse histograms on it, and their quantiles.

The grid is a pure function of integers, so SQL reproduces it exactly (no floating-point log):

    u[0] = 1,   u[i+1] = max(u[i] + 1, floor(28 * u[i] / 25))      (growth factor 1.12)

up to the first bound of at least one hour (u[188] = 3_997_566_454 µs, about 66.6 minutes).
Bucket i holds the values v with u[i-1] < v <= u[i] (bucket 0 holds v <= 1, lower bound 0), i.e.

    bucket_index(v) = #{i : u[i] < v}

and values above the last bound go to the overflow bucket OVERFLOW_INDEX = 189 (190 buckets in
all). In ClickHouse: `arrayCount(b -> b < v, [u0, u1, ...])`, see `bucket_index_sql`.

Error bound: `quantile` interpolates linearly inside the bucket that holds the nearest-rank value
(Prometheus' `histogram_quantile`), and both lie within one bucket, so for values up to the last
bound |estimate - exact| <= u[i] - u[i-1] <= max(1 µs, 0.12 * exact). Overflow values estimate as
the last bound.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

GROWTH_NUMERATOR = 28
GROWTH_DENOMINATOR = 25
MAX_RELATIVE_ERROR = 0.12
MAX_ABSOLUTE_ERROR_US = 1
GRID_MIN_COVERAGE_US = 3_600_000_000  # one hour


def _grid() -> tuple[int, ...]:
    bounds = [1]
    while bounds[-1] < GRID_MIN_COVERAGE_US:
        last = bounds[-1]
        bounds.append(max(last + 1, last * GROWTH_NUMERATOR // GROWTH_DENOMINATOR))
    return tuple(bounds)


BOUNDS_US: tuple[int, ...] = _grid()
OVERFLOW_INDEX = len(BOUNDS_US)
BUCKET_COUNT = OVERFLOW_INDEX + 1


def bucket_index(value_us: int) -> int:
    """The bucket of a latency in microseconds (values below 1 count as 1)."""
    if value_us < 0:
        raise ValueError(f"latency must not be negative: {value_us} µs")
    return bisect_left(BOUNDS_US, value_us)


def _check_index(index: int) -> None:
    if not 0 <= index <= OVERFLOW_INDEX:
        raise ValueError(f"bucket index {index} outside 0..{OVERFLOW_INDEX}")


def bucket_upper(index: int) -> float:
    """The inclusive upper bound of a bucket in microseconds; infinity for the overflow bucket."""
    _check_index(index)
    return math.inf if index == OVERFLOW_INDEX else float(BOUNDS_US[index])


def bucket_lower(index: int) -> float:
    """The exclusive lower bound of a bucket in microseconds (0 for the first bucket)."""
    _check_index(index)
    return 0.0 if index == 0 else float(BOUNDS_US[index - 1])


def bucket_index_sql(value_expr: str) -> str:
    """A ClickHouse expression computing bucket_index of an integer microseconds expression."""
    bounds = ", ".join(str(bound) for bound in BOUNDS_US)
    return f"arrayCount(b -> b < ({value_expr}), [{bounds}])"


@dataclass(slots=True)
class Histogram:
    """A sparse latency histogram: bucket index -> count, only non-zero counts kept."""

    counts: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for index, count in self.counts.items():
            _check_index(index)
            if count <= 0:
                raise ValueError(f"bucket {index} has count {count}; counts must be positive")

    @classmethod
    def of(cls, values_us: Iterable[int]) -> Histogram:
        """A histogram of the given latencies."""
        hist = cls()
        for value in values_us:
            hist.record(value)
        return hist

    @classmethod
    def from_counts(cls, counts: Mapping[int, int]) -> Histogram:
        """A histogram from stored counts (zero counts are dropped)."""
        return cls({index: count for index, count in counts.items() if count != 0})

    @property
    def total(self) -> int:
        """The number of recorded values."""
        return sum(self.counts.values())

    def record(self, value_us: int, count: int = 1) -> None:
        """Count a latency (count times)."""
        if count <= 0:
            raise ValueError(f"count must be positive: {count}")
        index = bucket_index(value_us)
        self.counts[index] = self.counts.get(index, 0) + count

    def merge(self, other: Histogram) -> None:
        """Add another histogram's counts to this one."""
        for index, count in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + count


def merged(histograms: Iterable[Histogram]) -> Histogram:
    """A new histogram holding the sum of the given ones."""
    result = Histogram()
    for hist in histograms:
        result.merge(hist)
    return result


def quantile(hist: Histogram, q: float) -> float | None:
    """The q-quantile (0 <= q <= 1) in microseconds, Prometheus-style; None when hist is empty."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be within [0, 1]: {q}")
    total = hist.total
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index in sorted(hist.counts):
        count = hist.counts[index]
        if seen + count >= rank:
            if index == OVERFLOW_INDEX:
                return float(BOUNDS_US[-1])
            lower, upper = bucket_lower(index), bucket_upper(index)
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    # q * total never exceeds total in floating point, so the loop always returns.
    raise AssertionError(f"rank {rank} beyond total {total}")
