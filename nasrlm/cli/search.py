"""``nasrlm search``: the command-line face of :func:`nasrlm.search.runner.run_search`."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["cmd_search", "register"]


def _reference(text: str | None, objectives: tuple[str, ...]) -> tuple[float, ...] | None:
    """``acc=85,latency_pixel3=40`` or ``85,40`` (in objective order)."""
    from nasrlm.cli import CliError

    if not text:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
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


def cmd_search(args: argparse.Namespace) -> None:
    import torch

    from nasrlm.cli import CliError, check_output_folder
    from nasrlm.search.runner import SearchConfig, SearchError, run_search

    torch.set_num_threads(args.threads)  # the RLM is small: one thread beats two fighting for a shared core
    objectives = tuple(o.strip() for o in args.objectives.split(",") if o.strip())
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


def register(commands: Any) -> None:
    from nasrlm.cli import positive_int, seed_int, threads_int, whole_number
    from nasrlm.search.runner import SAMPLERS

    p = commands.add_parser(
        "search",
        help="multi-objective architecture search (RLM-steered by default); writes the Pareto front",
        description="Find the Pareto front of a search space's objectives in few benchmark queries.",
    )
    p.add_argument("--space", default="nb201")
    p.add_argument("--objectives", default="acc,latency_pixel3", help="comma-separated metric names of the space")
    p.add_argument("--budget", type=positive_int, default=100, help="benchmark queries (finished trials) in the study")
    p.add_argument("--sampler", default="rlm", choices=SAMPLERS, metavar="{" + ",".join(SAMPLERS) + "}")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument(
        "--storage",
        help="Optuna storage URL (sqlite:///x.db, postgresql://..., journal:///x.log); default: OUT/study.db",
    )
    p.add_argument("--study-name", help="default: space, objectives, sampler and seed")
    p.add_argument("--surrogate", help="a saved surrogate for the rlm sampler (default: the shipped pretrained one)")
    p.add_argument("--constraint", action="append", metavar="EXPR", help="e.g. 'latency_pixel3<=10' (repeatable)")
    p.add_argument(
        "--reference",
        help="hypervolume reference, e.g. 'acc=85,latency_pixel3=40' (default: each objective's worst decile)",
    )
    p.add_argument("--out", default="nasrlm-search", help="results folder (default: ./nasrlm-search)")
    p.add_argument(
        "--heartbeat",
        type=whole_number(1, 7 * 24 * 3600),  # a week; Optuna's timers overflow far beyond
        default=300,
        metavar="SECONDS",
        help="database storages: a trial whose worker has been silent this long is failed and retried once "
        "(default 300)",
    )
    p.add_argument("--threads", type=threads_int, default=1, help="torch threads for the surrogate (default 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_search)
