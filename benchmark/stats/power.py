"""How many seeds a verdict needs: the minimum detectable difference at the seeds present and the seeds at
which an observed difference would be detected, both at a stated power and alpha, from seed-level variance.

Why a t-test and not the bootstrap: the verdict's two-level bootstrap (`benchmark.stats.significance`) has no closed
form for its power, and simulating it for every n is slow and, at 3 seeds, dominated by its 27 seed draws.
Its seed level resamples the per-seed differences method - baseline (same seeds, same clips), so the
closed-form stand-in reads the same numbers: a paired t-test on the per-seed differences, whose power is
exact under its assumptions via the noncentral t distribution (`scipy.stats.nct`). Assumptions: the per-seed
differences are independent draws from one normal distribution (a new seed is an independent training run;
its clip noise is inside its difference), their standard deviation is the sample one (ddof = 1) of the seeds
present, and the alpha is the per-comparison level Holm gave that verdict, held fixed as n grows. The
numbers are planning figures for the bootstrap verdict, not its exact power.

`two-sample` (independent groups, pooled variance, df = 2n - 2) is here for methods that share no seeds and
for the textbook check: sd 1, delta 1, alpha 0.05 two-sided, 80% power -> 17 per group (Cohen 1988, 2.4.1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import optimize
from scipy import stats as sps

from .significance import MIN_SEEDS

POWER = 0.8  # the conventional target (Cohen 1988)
MAX_SEEDS = 100_000  # beyond this "seeds needed" is reported as "> MAX_SEEDS"


@dataclass(frozen=True)
class Design:
    """A t-test layout: degrees of freedom and the standard-error factor (se = sd * factor) at n per method."""
    name: str
    df: Callable[[int], int]
    se_factor: Callable[[int], float]
    min_n: int  # smallest n with df >= 1


DESIGNS = {
    "paired": Design("paired", lambda n: n - 1, lambda n: math.sqrt(1 / n), 2),
    "two-sample": Design("two-sample", lambda n: 2 * n - 2, lambda n: math.sqrt(2 / n), 2),
}


def _design(name: str) -> Design:
    if name not in DESIGNS:
        raise ValueError(f"unknown t-test design {name!r}: use one of {sorted(DESIGNS)}")
    return DESIGNS[name]


def _check_level(name: str, value: float) -> None:
    if not (0 < value < 1):
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")


def _check(sd: float, n: int | None, alpha: float, power: float | None, design: Design) -> None:
    _check_level("alpha", alpha)
    if power is not None:
        _check_level("power", power)
    if not (sd >= 0 and math.isfinite(sd)):
        raise ValueError(f"sd must be a finite number >= 0, got {sd!r}")
    if n is not None and n < design.min_n:
        raise ValueError(f"n must be at least {design.min_n} per method for a {design.name} t-test, got {n!r}")


def _power_at_ncp(ncp: float, df: int, alpha: float) -> float:
    """Two-sided t-test power: P(|T| > t_crit) with T ~ noncentral t(df, ncp). The lower tail is taken as
    P(T(-ncp) > t_crit) (the same by symmetry): scipy 1.17's nct.cdf returns nan far in the left tail."""
    crit = sps.t.ppf(1 - alpha / 2, df)
    return float(sps.nct.sf(crit, df, ncp) + sps.nct.sf(crit, df, -ncp))


def t_power(delta: float, sd: float, n: int, alpha: float, design: str = "paired") -> float:
    """Power of the two-sided t-test at n per method to detect a true difference `delta` with spread `sd`."""
    d = _design(design)
    _check(sd, n, alpha, None, d)
    if sd == 0:
        return 1.0 if delta != 0 else alpha
    return _power_at_ncp(abs(delta) / (sd * d.se_factor(n)), d.df(n), alpha)


def min_detectable_difference(sd: float, n: int, alpha: float, power: float = POWER,
                              design: str = "paired") -> float:
    """The smallest |delta| the two-sided t-test at n per method detects with probability `power`."""
    d = _design(design)
    _check(sd, n, alpha, power, d)
    if sd == 0:
        return 0.0
    df = d.df(n)
    gap = lambda ncp: _power_at_ncp(ncp, df, alpha) - power  # noqa: E731 (increasing in ncp >= 0)
    high = 1.0
    while gap(high) < 0:
        high *= 2
    return float(optimize.brentq(gap, 0.0, high, xtol=1e-10)) * sd * d.se_factor(n)


def seeds_needed(delta: float, sd: float, alpha: float, power: float = POWER, design: str = "paired",
                 minimum: int | None = None) -> int | None:
    """The smallest n per method (>= `minimum`) at which the t-test detects `delta` with probability `power`;
    None when delta is 0 (no n detects it) or when more than MAX_SEEDS would be needed."""
    d = _design(design)
    _check(sd, None, alpha, power, d)
    low = max(d.min_n, minimum or d.min_n)
    if delta == 0:
        return None
    if sd == 0:
        return low
    reaches = lambda n: t_power(delta, sd, n, alpha, design) >= power  # noqa: E731 (monotone in n)
    if reaches(low):
        return low
    high = low
    while not reaches(high):  # doubling, then bisection on the bracket (low fails, high reaches)
        low, high = high, high * 2
        if low > MAX_SEEDS:
            return None
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if reaches(middle) else (middle, high)
    return high if high <= MAX_SEEDS else None


@dataclass(frozen=True)
class SeedPower:
    """The two numbers a verdict reports from its per-seed differences (pp), and why one is missing."""
    n: int
    mean_diff: float
    sd: float  # sample sd of the per-seed differences; nan below MIN_SEEDS seeds
    alpha: float  # the Holm-adjusted per-comparison level the verdict used
    power: float
    mdd: float | None  # minimum detectable difference at n seeds (pp)
    needed: int | None  # seeds per method at which mean_diff would be detected
    note: str = ""  # the reason a number is None, in words

    def mdd_text(self) -> str:
        if self.mdd is None:
            return self.note
        if self.mdd == 0:
            return "0.00 (seed variance 0: any difference detectable)"
        return f"{self.mdd:.2f}"

    def needed_text(self) -> str:
        if self.needed is not None:
            return f"{self.needed}" + (" (seed variance 0: any difference detectable)" if self.sd == 0 else "")
        return self.note or f"> {MAX_SEEDS}"

    def sentence(self) -> str:
        """One clause for a verdict line."""
        head = f"{self.power:.0%} power at Holm alpha {self.alpha:.3g}"
        if self.mdd is None:
            return f"{head}: {self.note} ({self.n} seed{'s' if self.n != 1 else ''})"
        zero = " (seed variance 0: any difference detectable)" if self.sd == 0 else ""
        count = f"{self.needed}" if self.needed is not None else f"> {MAX_SEEDS}"
        needed = self.note or f"the observed {self.mean_diff:+.2f} pp needs {count} seeds per method"
        return (f"{head} (paired t, seed sd {self.sd:.2f} pp): detectable difference at {self.n} seeds "
                f"{self.mdd:.2f} pp{zero}; {needed}")


NO_DIFFERENCE = "no difference observed"


def seed_power(differences: list[float], alpha: float, power: float = POWER, minimum: int = MIN_SEEDS) -> SeedPower:
    """Both numbers from per-seed differences (method - baseline, pp) under the paired design; seeds needed
    counts at least `minimum` (the verdict's own minimum number of seeds)."""
    diffs = np.asarray(differences, float)
    n = len(diffs)
    mean = float(diffs.mean()) if n else math.nan
    if n < MIN_SEEDS:
        return SeedPower(n, mean, math.nan, alpha, power, None, None, f"needs >= {MIN_SEEDS} seeds to estimate")
    if not math.isfinite(alpha):
        return SeedPower(n, mean, math.nan, alpha, power, None, None, "not testable (no Holm alpha)")
    sd = float(diffs.std(ddof=1))
    if math.isclose(sd, 0, abs_tol=1e-9):
        sd = 0.0
    if math.isclose(mean, 0, abs_tol=1e-9):
        mean = 0.0
    mdd = min_detectable_difference(sd, n, alpha, power)
    needed = seeds_needed(mean, sd, alpha, power, minimum=minimum)
    note = NO_DIFFERENCE if mean == 0 else ""
    return SeedPower(n, mean, sd, alpha, power, mdd, needed, note)
