"""What should a few-shot line be fitted to? The targets themselves, their ranks (normal scores), or
the targets with their outliers clipped: the line alone (``LinePrior.select``), Kendall-tau on the test
archs of each transfer target.

Usage: python experiments/probe_line_target.py [--targets nb201:acc,...] [--shots 16,100]
                                              [--seeds 10,11,12] [--surrogate experiments/checkpoints/c7]
                                              [--test-size 300]

Splits are experiments/bench_transfer.py's (validation seeds by default: choose on them, report on
others). The features are those a fit weighs (``Surrogate.line_features``: the costs line and the op
census). ``clip K``: the targets (their log, where all are positive) clipped to their median +- K
robust standard deviations (1.4826 x the median absolute deviation), then fitted as values. ``values
or ranks``: of the lines chosen on values and on ranks, the one of higher leave-one-out R^2 in the
targets' scale (a rank line's R^2 is on the ranks' normal scores).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np


def clipped(values: np.ndarray, k: float) -> np.ndarray:
    """``values`` (on a log scale where all are positive) clipped to median +- k robust deviations."""
    positive = bool((values > 0).all())
    scaled = np.log(values) if positive else values
    median = np.median(scaled)
    deviation = 1.4826 * np.median(np.abs(scaled - median))
    scaled = np.clip(scaled, median - k * deviation, median + k * deviation)
    return np.exp(scaled) if positive else scaled


def target_r2(line: Any, values: np.ndarray) -> float:
    """A line's leave-one-out R^2 in the targets' scale (from its held-out errors), whatever it was fitted to."""
    scaled = np.log(values) if line.log else values
    errors = np.asarray(line.held_out_errors)
    if not len(errors):
        return -np.inf
    return 1.0 - float((errors**2).sum()) / float(((scaled - scaled.mean()) ** 2).sum())


def main() -> None:
    from bench_transfer import DEFAULT_TARGETS, split

    from nasrlm.core.metrics import kendall_tau
    from nasrlm.rlm.line_prior import LinePrior
    from nasrlm.rlm.surrogate import Surrogate
    from search_spaces import get_space

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS))
    parser.add_argument("--shots", default="16,100")
    parser.add_argument("--seeds", default="10,11,12")
    parser.add_argument("--surrogate", type=Path, default=Path("experiments/checkpoints/c7"))
    parser.add_argument("--test-size", type=int, default=300)
    args = parser.parse_args()
    surrogate = Surrogate.load(args.surrogate)
    fits = {
        "values": lambda y, f: LinePrior.select(y, f, ranks=False),
        "ranks": lambda y, f: LinePrior.select(y, f, ranks=True),
        "clip 3": lambda y, f: LinePrior.select(clipped(y, 3.0), f, ranks=False),
        "clip 2": lambda y, f: LinePrior.select(clipped(y, 2.0), f, ranks=False),
        "values or ranks": lambda y, f: max(
            (LinePrior.select(y, f, ranks=False), LinePrior.select(y, f, ranks=True)),
            key=lambda line: target_r2(line, y),
        ),
    }
    means: dict[str, list[float]] = {name: [] for name in fits}
    print(f"| target | shots | {' | '.join(fits)} |")
    print(f"|---|---|{'---|' * len(fits)}")
    for target in args.targets.split(","):
        space_name, metric = target.split(":")
        space = get_space(space_name)
        values = np.asarray(space.values(metric), dtype=np.float64)
        for shots in (int(s) for s in args.shots.split(",")):
            taus: dict[str, list[float]] = {name: [] for name in fits}
            for seed in (int(s) for s in args.seeds.split(",")):
                train, test = split(space, metric, shots, seed, args.test_size)
                features = surrogate.line_features(space.to_texts([*train.tolist(), *test.tolist()]))
                if features is None:
                    raise SystemExit("probe_line_target.py: --surrogate must read the costs line (value states)")
                for name, fit in fits.items():
                    line = fit(values[train], features[: len(train)])
                    taus[name].append(kendall_tau(values[test], line.mean(features[len(train) :])))
            cells = []
            for name, got in taus.items():
                means[name].append(float(np.mean(got)))
                cells.append(f"{np.mean(got):.3f} ({', '.join(f'{t:.3f}' for t in got)})")
            print(f"| {target} | {shots} | {' | '.join(cells)} |", flush=True)
    print(f"| mean over cells | | {' | '.join(f'{np.mean(m):.3f}' for m in means.values())} |")


if __name__ == "__main__":
    main()
