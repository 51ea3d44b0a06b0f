"""The full predictor benchmark of the README on NAS-Bench-201: every predictor, five train sizes, 3 seeds.

Usage: nice python experiments/report_nb201.py [--out runs/report_full] [--predictors rlm,gcn,...]
       [--train-sizes 78,156,469,781,1563] [--seeds 3] [--test-size N]

Equivalent to ``nasrlm report --predictors rlm,gcn,gin,brp,mlp,gbdt,flops --train-sizes
78,156,469,781,1563 --seeds 3 --objectives acc,latency_pixel3 --out runs/report_full``: each
predictor is trained on identical random splits and tested on all remaining archs; the RLM is the
shipped pretrained default fine-tuned decoder-only (40 epochs max, patience 8, 32 samples per
prediction), the baselines use their benchmark settings (those of experiments/bench_baselines.py).
It takes hours on 2 cores; every finished run is kept in OUT/results.jsonl, and rerunning the same
command continues from there. On more cores, start one process per predictor group with the same
--out (e.g. ``--predictors brp`` and ``--predictors rlm,gcn,gin,mlp,gbdt,flops``): rows are added
under a lock. Prints one line per finished run, then the tables of the report (OUT/report.md,
OUT/report.html, with the plots).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from nasrlm.report.render import describe, render_report
from nasrlm.report.runner import ReportConfig, run_report

PREDICTORS = ("rlm", "gcn", "gin", "brp", "mlp", "gbdt", "flops")
SIZES = (78, 156, 469, 781, 1563)
OBJECTIVES = ("acc", "latency_pixel3")


def _print_row(row: dict[str, Any]) -> None:
    scores = ", ".join(f"{o} τ {s['kendall']:.3f}" for o, s in row["scores"].items())
    print(
        f"# {row['predictor']} N={row['size']} seed={row['seed']}: {scores} "
        f"(fit {row['fit_s']:.1f} s, predict {row['predict_s']:.1f} s)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/report_full"))
    parser.add_argument("--predictors", default=",".join(PREDICTORS))
    parser.add_argument("--train-sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--test-size", type=int, default=None, help="default: every arch not trained on")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the RLM's; on 2 shared cores more threads mostly spin
    config = ReportConfig(
        space="nb201",
        objectives=OBJECTIVES,
        predictors=tuple(args.predictors.split(",")),
        train_sizes=tuple(int(n) for n in args.train_sizes.split(",")),
        seeds=args.seeds,
        test_size=args.test_size,
    )
    rows = run_report(config, args.out, progress=sys.stderr.isatty(), on_row=_print_row)
    paths = render_report(args.out, rows, config.objectives, describe(config), title="NAS-Bench-201 predictor report")
    # The tables as the README shows them: report.md without the settings, plots and prose.
    blocks, heading = [], ""
    for block in paths[0].read_text().split("\n\n")[2:]:  # after the title and the settings table
        if block.startswith("## "):
            heading = block
        elif block.startswith("|"):
            blocks += [heading, block]
    print("\n" + "\n\n".join(blocks))
    print(f"\nwrote {', '.join(map(str, paths))}")


if __name__ == "__main__":
    main()
