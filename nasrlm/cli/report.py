"""``nasrlm report``: the command-line face of :func:`nasrlm.report.runner.run_report`.

Fits every predictor on identical random splits and writes ``report.md`` and ``report.html``; with
``--surrogate``, scores one saved surrogate instead (:func:`nasrlm.report.runner.evaluate_surrogate`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nasrlm.cli._common import (
    CliError,
    add_space_argument,
    check_output_folder,
    comma_list,
    config_option,
    is_metric,
    load_tabular_space,
    positive_int,
    samples_int,
    threads_int,
    valid_metrics,
    whole_number,
)

__all__ = ["DESCRIPTION", "add_arguments", "run"]

DESCRIPTION = (
    "Fits every predictor on identical random splits (same archs, same seeds), tests each on the "
    "remaining archs, and writes OUT/report.md and a self-contained OUT/report.html: Kendall tau and "
    "Spearman per objective and train size, tau against train size, predicted-vs-true plots, latency "
    "within 10 %, calibration of the RLM's intervals, fit and predict times. Finished runs are kept in "
    "OUT/results.jsonl; rerunning continues from them. With --surrogate, evaluates one saved surrogate."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nasrlm.report.runner import ReportConfig, RlmSettings

    add_space_argument(parser)
    config_option(parser, "--objectives", ReportConfig)
    config_option(parser, "--predictors", ReportConfig, help="rlm and/or baselines, comma-separated")
    config_option(parser, "--train-sizes", ReportConfig)
    config_option(parser, "--seeds", ReportConfig, type=positive_int, help="seeds 0 .. SEEDS-1")
    config_option(
        parser,
        "--test-size",
        ReportConfig,
        type=whole_number(2),  # a rank correlation needs two points
        help="test on this many random held-out archs (default: all)",
    )
    parser.add_argument("--out", default="report", help="folder for results, plots and the report (default: report)")
    config_option(parser, "--rlm-samples", RlmSettings, "samples", type=samples_int, help="samples per RLM prediction")
    config_option(parser, "--rlm-epochs", RlmSettings, "epochs", type=positive_int)
    parser.add_argument("--rlm-init", help="fine-tune this saved surrogate instead of the shipped default")
    config_option(
        parser,
        "--epochs",
        ReportConfig,
        "baseline_epochs",
        type=positive_int,
        help="override the trained baselines' epochs (quick runs)",
    )
    parser.add_argument("--surrogate", help="only evaluate this saved surrogate on held-out archs (no fitting)")
    parser.add_argument("--threads", type=threads_int, default=1, help="torch threads for the RLM (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import torch

    from nasrlm.report.render import describe, load_rows, render_report, selected_rows
    from nasrlm.report.runner import run_report

    torch.set_num_threads(args.threads)  # the RLM's; the baselines set their own (1 by default)
    out = check_output_folder(args.out)
    if args.surrogate is not None:
        paths = _report_surrogate(args, out)
    else:
        config = _config_from_args(args)
        try:
            rows = run_report(config, out, progress=not args.quiet)
        except KeyboardInterrupt:
            # Finished runs are on disk; render them so that the stopped report is still readable.
            rows = selected_rows(config, load_rows(out))
            if rows:
                render_report(out, rows, config.objectives, describe(config), title="nasrlm report (partial)")
            raise
        paths = render_report(out, rows, config.objectives, describe(config))
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0


def _config_from_args(args: argparse.Namespace) -> Any:
    from nasrlm.report.runner import ReportConfig, RlmSettings, check_extras

    space = load_tabular_space(args.space, "report")
    objectives = comma_list(args.objectives)
    unknown = [name for name in objectives if not is_metric(space, name)]
    if unknown or not objectives:
        raise CliError(
            f"unknown objective {', '.join(unknown) or '(none)'!r} for space {args.space!r}; "
            f"valid: {', '.join(valid_metrics(space))}"
        )
    try:
        sizes = [int(part) for part in comma_list(args.train_sizes)]
    except ValueError:
        raise CliError(
            f"--train-sizes must be comma-separated integers, e.g. 156,781; got {args.train_sizes!r}"
        ) from None
    from nasrlm.report.runner import measured_archs

    available = len(measured_archs(space, objectives))
    if not sizes or not all(2 <= n <= available - 2 for n in sizes):
        what = (
            f"the space has {space.size:,} archs"
            if available == space.size
            else (f"{available:,} of the space's {space.size:,} archs have {', '.join(objectives)}")
        )
        raise CliError(f"train sizes must lie between 2 and {available - 2} ({what}); got {args.train_sizes!r}")
    if args.rlm_init is not None and not (Path(args.rlm_init) / "config.json").is_file():
        raise CliError(f"--rlm-init {args.rlm_init!r} is not a saved surrogate (no config.json there)")
    predictors = comma_list(args.predictors)
    check_extras(predictors)
    try:
        return ReportConfig(
            space=args.space,
            objectives=tuple(dict.fromkeys(objectives)),
            predictors=tuple(dict.fromkeys(predictors)),
            train_sizes=tuple(dict.fromkeys(sizes)),
            seeds=args.seeds,
            test_size=args.test_size,
            baseline_epochs=args.epochs,
            rlm=RlmSettings(init=args.rlm_init, epochs=args.rlm_epochs, samples=args.rlm_samples),
        )
    except ValueError as exc:  # the configs' own checks name the problem
        raise CliError(str(exc)) from None


def _report_surrogate(args: argparse.Namespace, out: Path) -> list[Path]:
    from nasrlm.report.render import render_report
    from nasrlm.report.runner import evaluate_surrogate
    from nasrlm.rlm.surrogate import Surrogate, SurrogateLoadError

    space = load_tabular_space(args.space, "report")
    try:
        decodes = Surrogate.load(args.surrogate).objectives
    except SurrogateLoadError as exc:
        raise CliError(str(exc)) from None
    objectives = comma_list(args.objectives)
    missing = [name for name in objectives if name not in decodes or not is_metric(space, name)]
    if missing or not objectives:
        raise CliError(
            f"objective(s) {', '.join(missing) or '(none)'} not both decoded by the surrogate and metrics of "
            f"{args.space!r}; the surrogate decodes: {', '.join(decodes)}"
        )
    row = evaluate_surrogate(
        args.surrogate, out, space=args.space, objectives=objectives, test_size=args.test_size, samples=args.rlm_samples
    )
    held = "archs it was not trained on" if row["held_out_known"] else "random archs (its training archs unknown)"
    settings = {
        "surrogate": str(args.surrogate),
        "space": args.space,
        "test archs": f"{row['n_test']:,} {held}",
        "samples per prediction": f"{args.rlm_samples}, median as point",
    }
    return render_report(out, [row], objectives, settings, title=f"Surrogate report: {Path(args.surrogate).name}")
