"""``nasrlm search``: the command-line face of :func:`nasrlm.search.runner.run_search`."""

from __future__ import annotations

import argparse
from typing import Any

from nasrlm.cli._common import (
    CliError,
    add_space_argument,
    check_output_folder,
    comma_list,
    config_option,
    positive_int,
    seed_int,
    threads_int,
    usable_cpus,
    whole_number,
)

__all__ = ["DESCRIPTION", "add_arguments", "run"]

DESCRIPTION = "Find the Pareto front of a search space's objectives in few benchmark queries."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nasrlm.search.runner import SAMPLERS, SearchConfig

    add_space_argument(parser)
    config_option(parser, "--objectives", SearchConfig, help="comma-separated metric names of the space")
    config_option(
        parser, "--budget", SearchConfig, type=positive_int, help="benchmark queries (finished trials) in the study"
    )
    config_option(parser, "--sampler", SearchConfig, choices=SAMPLERS, metavar="{" + ",".join(SAMPLERS) + "}")
    config_option(parser, "--seed", SearchConfig, type=seed_int)
    parser.add_argument(
        "--storage",
        help="Optuna storage URL (sqlite:///x.db, postgresql://..., journal:///x.log); default: OUT/study.db",
    )
    parser.add_argument("--study-name", help="default: space, objectives, sampler and seed")
    parser.add_argument(
        "--surrogate", help="a saved surrogate for the rlm sampler (default: the shipped pretrained one)"
    )
    parser.add_argument("--constraint", action="append", metavar="EXPR", help="e.g. 'latency_pixel3<=10' (repeatable)")
    parser.add_argument(
        "--reference",
        help="hypervolume reference, e.g. 'acc=85,latency_pixel3=40' (default: each objective's worst decile)",
    )
    parser.add_argument("--out", default="nasrlm-search", help="results folder (default: ./nasrlm-search)")
    config_option(
        parser,
        "--heartbeat",
        SearchConfig,
        type=whole_number(1, 7 * 24 * 3600),  # a week; Optuna's timers overflow far beyond
        metavar="SECONDS",
        help="database storages: a trial whose worker has been silent this long is failed and retried once "
        "(default 300)",
    )
    parser.add_argument(
        "--threads",
        type=threads_int,
        default=usable_cpus(),
        help=f"torch threads for the surrogate (default: the CPUs this process may use, at most 4; {usable_cpus()} "
        "here). Give 1 per worker when several workers share a machine",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _reference(text: str | None, objectives: tuple[str, ...]) -> tuple[float, ...] | None:
    """``acc=85,latency_pixel3=40`` or ``85,40`` (in objective order)."""
    if not text:
        return None
    parts = comma_list(text)
    try:
        if all("=" in p for p in parts):
            given = {k.strip(): float(v) for k, v in (p.split("=", 1) for p in parts)}
            missing = [o for o in objectives if o not in given]
            extra = [k for k in given if k not in objectives]
            if missing or extra:
                raise CliError(
                    f"--reference must give each objective once ({', '.join(objectives)}); "
                    f"missing: {', '.join(missing) or '-'}, not objectives: {', '.join(extra) or '-'}"
                )
            return tuple(given[o] for o in objectives)
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise CliError(f"--reference {text!r} is not numbers: write e.g. 'acc=85,latency_pixel3=40'") from None
    if len(values) != len(objectives):
        raise CliError(
            f"--reference has {len(values)} values for {len(objectives)} objectives ({', '.join(objectives)})"
        )
    return values


def run(args: argparse.Namespace) -> int:
    import torch

    from nasrlm.search.runner import SearchConfig, SearchError, run_search

    # On an idle 2-core machine the README's main command took 134 s with 2 threads and 176 s with 1;
    # workers sharing cores should take one each (two threads fighting for one core are slower).
    torch.set_num_threads(args.threads)
    objectives = tuple(comma_list(args.objectives))
    try:
        config = SearchConfig(
            space=args.space,
            objectives=objectives,
            budget=args.budget,
            sampler=args.sampler,
            seed=args.seed,
            storage=args.storage,
            study_name=args.study_name,
            surrogate=args.surrogate,
            constraints=tuple(args.constraint or ()),
            reference=_reference(args.reference, objectives),
            out=args.out,
            heartbeat=args.heartbeat,
            progress=not args.quiet,
        )
        if args.surrogate is not None and args.sampler != "rlm":
            raise CliError("--surrogate is used by the rlm sampler only")
        if args.out:
            check_output_folder(args.out)
        result = run_search(config)
    except SearchError as exc:
        raise CliError(str(exc)) from None
    _print_summary(result, config)
    return 0


def _print_summary(result: Any, config: Any) -> None:
    front = result.front
    columns = ["trial", "arch", *config.objectives]
    predicted = [f"pred_{o}_median" for o in config.objectives]
    if front[predicted].notna().any().any():
        columns += predicted
    print(f"\nPareto front ({len(front)} of {len(result.trials)} queried architectures):")
    print(front[columns].sort_values(config.objectives[-1]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    reference = ", ".join(f"{o}={r:g}" for o, r in zip(config.objectives, result.reference, strict=True))
    line = f"hypervolume {result.hypervolume:.4g} (reference {reference})"
    if result.hypervolume_ratio is not None:
        line += f"; the space's exact front: {result.exact_hypervolume:.4g}, ratio {result.hypervolume_ratio:.3f}"
    print(line)
    if len(result.trials) > config.budget:
        # Workers check the budget before each query, not atomically with it: the queries in flight
        # when the last slot was taken still finish, and are kept (they were paid for).
        print(
            f"the study holds {len(result.trials)} finished trials, {len(result.trials) - config.budget} more than "
            f"the budget of {config.budget} (workers that finished queries at the same moment, or an earlier run "
            "with a larger budget)"
        )
    if result.seconds_per_trial == result.seconds_per_trial:  # not NaN: this run queried something
        print(f"{result.seconds:.1f} s, {result.seconds_per_trial:.2f} s per trial")
    if config.out:
        print(f"results in {config.out}/: front.csv, front.json, front.png, trials.csv, summary.json")
