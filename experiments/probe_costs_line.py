"""Does a costed-form surrogate read its costs line? Zero-shot, with each network's line and with one line for all.

Usage: python experiments/probe_costs_line.py --surrogate DIR [--surrogate DIR ...]
                                              [--cache runs/bench_own_space_rows.jsonl] [--networks 120]

On the own CNN family of experiments/bench_own_space.py (its cached rows: ONNX text, MACs, parameter
count), each surrogate decodes its pretrained ``flops`` and ``params`` without fine-tuning; printed:
Spearman of ``flops`` with the MACs and of ``params`` with the parameter count. For a surrogate that
reads the costed form (nasrlm.text.graph_costs) the same is printed again with every text's costs line
replaced by the first network's: a model that reads the line ranks worse then; one that ignores it
ranks the same.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--surrogate", action="append", required=True)
    parser.add_argument("--cache", type=Path, default=Path("runs/bench_own_space_rows.jsonl"))
    parser.add_argument("--networks", type=int, default=120)
    parser.add_argument("--samples", type=int, default=8)
    args = parser.parse_args()
    if not args.cache.is_file():
        parser.error(f"--cache {args.cache} does not exist; make it with experiments/bench_own_space.py --cache")

    from nasrlm.core.metrics import spearman_rho
    from nasrlm.rlm.surrogate import Surrogate

    rows = [json.loads(line) for line in args.cache.read_text().splitlines() if line.strip()][: args.networks]
    texts = [row["text"] for row in rows]
    macs = np.array([row["macs"] for row in rows], dtype=np.float64)
    params = np.array([row["params"] for row in rows], dtype=np.float64)

    def ranks(surrogate: Surrogate, inputs: list[str]) -> str:
        point = surrogate.predict(inputs, num_samples=args.samples, objectives=["flops", "params"], seed=0).point
        flops_rho, params_rho = spearman_rho(point["flops"], macs), spearman_rho(point["params"], params)
        return f"flops~MACs {flops_rho:+.3f}, params {params_rho:+.3f}"

    print(f"{len(rows)} networks of the own family, zero-shot (Spearman)")
    for path in args.surrogate:
        surrogate = Surrogate.load(path)
        print(f"{path} ({surrogate.text_form} form): {ranks(surrogate, texts)}", flush=True)
        if surrogate.text_form == "costed":
            read = surrogate.texts(texts)
            line = read[0].rpartition("\n")[2]
            same_line = [text.rpartition("\n")[0] + "\n" + line for text in read]
            print(f"  every costs line replaced by the first network's: {ranks(surrogate, same_line)}", flush=True)


if __name__ == "__main__":
    main()
