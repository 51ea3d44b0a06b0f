"""Two probes of how a pretrained RLM reads NB201, both negative results kept as the commands that made them.

Usage: python experiments/probe_reading.py node-order [--surrogate DIR] [--size 156] [--seeds 100,101]
                                                      [--views 4] [--epochs 8]
       python experiments/probe_reading.py tail --surrogate experiments/checkpoints/c7 [--lengths 0,256,128]

``node-order``: the same network has many ONNX texts, one per topological order of its nodes (the
canonical text is one of them). Fine-tuning on --views random orders of each training arch (``aug``,
--epochs so the steps stay near the recipe's) and averaging the point predictions of --views orders of
each test arch (``tta``) are the usual data augmentation of sequence-based NAS predictors.
``tail``: a model that reads whole texts in windows (c7) fine-tuned and tested reading only the last
--lengths tokens (0: all), to see whether the decoder's many memory positions dilute what it learns
from 156 rows. Split seeds 100-103 are validation seeds; the recipe is the shipped one.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

OBJECTIVES = ("acc", "latency_pixel3", "latency_eyeriss")


def random_order_text(text: str, rng: np.random.Generator) -> str:
    """The network of a canonical ONNX text, printed in a random topological order of its nodes (graph
    and local functions), renamed as the canonical form names things (weights and function inputs by
    first use, values in node order). Always drawing the first ready node gives the text back."""
    import onnx
    from onnx import printer

    from nasrlm.text.onnx_text import _canonical_function, parse_text

    def shuffled(nodes: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
        producer = {o: i for i, n in enumerate(nodes) for o in n.output if o}
        needs = [{producer[x] for x in n.input if x in producer} for n in nodes]
        done: set[int] = set()
        order: list[int] = []
        while len(order) < len(nodes):
            ready = [i for i in range(len(nodes)) if i not in done and needs[i] <= done]
            order.append(ready[int(rng.integers(len(ready)))])
            done.add(order[-1])
        return [nodes[i] for i in order]

    model = parse_text(text, check=False)
    graph = model.graph
    permutations = {}
    for function in model.functions:
        body = shuffled(list(function.node))
        function.ClearField("node")
        function.node.extend(body)
        used = list(dict.fromkeys(x for n in body for x in n.input if x in function.input))
        index = [list(function.input).index(x) for x in used]
        permutation = [0] + [i for i in index if i != 0] + [i for i in range(1, len(function.input)) if i not in index]
        inputs = [function.input[i] for i in permutation]
        function.ClearField("input")
        function.input.extend(inputs)
        permutations[function.name] = permutation
    names = {v.name: v.name for v in graph.input if not v.name.startswith("w")}
    outputs = {o.name for o in graph.output}
    body = []
    for node in shuffled(list(graph.node)):
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        inputs = list(node.input)
        if node.op_type in permutations:
            inputs = [inputs[i] for i in permutations[node.op_type]]
        for x in inputs:
            if x and x not in names:
                names[x] = f"w{sum(n.startswith('w') for n in names.values())}"
        for o in node.output:
            if o and o not in outputs and o not in names:
                names[o] = f"t{sum(n.startswith('t') for n in names.values())}"
        copy.ClearField("input")
        copy.input.extend(names.get(x, x) for x in inputs)
        copy.ClearField("output")
        copy.output.extend(names.get(o, o) for o in node.output)
        body.append(copy)
    graph.ClearField("node")
    graph.node.extend(body)
    data = [v for v in graph.input if not v.name.startswith("w")]
    weights = sorted((v for v in graph.input if v.name.startswith("w")), key=lambda v: int(names[v.name][1:]))
    inputs = []
    for value in data + weights:
        renamed = onnx.ValueInfoProto()
        renamed.CopyFrom(value)
        renamed.name = names[value.name]
        inputs.append(renamed)
    graph.ClearField("input")
    graph.input.extend(inputs)
    functions = [_canonical_function(f, {}) for f in model.functions]
    model.ClearField("functions")
    model.functions.extend(functions)
    return printer.to_text(model)


def scores(space, test, points: list[dict[str, np.ndarray]]) -> dict[str, float]:
    from nasrlm.core.metrics import kendall_tau, spearman_rho

    out = {}
    for name in OBJECTIVES:
        truth, point = space.values(name)[test], np.mean([p[name] for p in points], axis=0)
        out[name] = round(kendall_tau(truth, point) if name == "acc" else spearman_rho(truth, point), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probe", choices=("node-order", "tail"))
    parser.add_argument("--surrogate", help="a saved model (default: the shipped one)")
    parser.add_argument("--size", type=int, default=156)
    parser.add_argument("--seeds", default="100,101,102,103")
    parser.add_argument("--test-size", type=int, default=1500)
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=8, help="node-order: epochs over the views' rows")
    parser.add_argument("--lengths", default="0,256,128")
    args = parser.parse_args()

    from baselines.splits import random_split
    from nasrlm.rlm.recipe import DEFAULT_RECIPE as RECIPE
    from nasrlm.rlm.surrogate import Surrogate
    from search_spaces import get_space

    space = get_space("nb201")

    def fitted(texts: list[str], targets: dict[str, np.ndarray], seed: int, **overrides) -> Surrogate:
        surrogate = Surrogate.pretrained() if args.surrogate is None else Surrogate.load(args.surrogate)
        if overrides.get("max_length"):
            surrogate.tokenizer = surrogate.tokenizer.with_config(max_length=overrides["max_length"], truncation="tail")
        epochs = {"epochs": overrides["epochs"]} if "epochs" in overrides else {}
        surrogate.fit(
            texts,
            targets,
            RECIPE.train_config(seed=seed, **epochs),
            target_transform=RECIPE.target_transform,
            init_like=RECIPE.init_like,
            line_prior_min_r2=RECIPE.line_prior_min_r2,
            line_prior_folds=RECIPE.line_prior_folds,
        )
        return surrogate

    def point(surrogate: Surrogate, texts: list[str], seed: int) -> dict[str, np.ndarray]:
        prediction = surrogate.predict(
            texts, num_samples=RECIPE.num_samples, objectives=OBJECTIVES, seed=seed, temperature=RECIPE.temperature
        )
        return prediction.point

    for seed in (int(s) for s in args.seeds.split(",")):
        train, rest = random_split(space.size, args.size, seed)
        test = np.sort(np.random.default_rng(1000 + seed).choice(rest, args.test_size, replace=False))
        train_texts, test_texts = space.to_texts(train.tolist()), space.to_texts(test.tolist())
        targets = {name: space.values(name)[train] for name in OBJECTIVES}
        row = {"probe": args.probe, "size": args.size, "seed": seed}
        if args.probe == "node-order":
            rng = np.random.default_rng(seed)
            views = args.views
            test_views = [test_texts] + [[random_order_text(t, rng) for t in test_texts] for _ in range(views - 1)]
            train_views = [train_texts] + [[random_order_text(t, rng) for t in train_texts] for _ in range(views - 1)]
            for mode in ("canonical", "aug"):
                if mode == "canonical":
                    surrogate = fitted(train_texts, targets, seed)
                else:
                    repeated = {name: np.tile(values, views) for name, values in targets.items()}
                    rows = [text for view in train_views for text in view]
                    surrogate = fitted(rows, repeated, seed, epochs=args.epochs)
                points = [point(surrogate, texts, seed) for texts in test_views]
                print(json.dumps({**row, "fit": mode, "tta_views": 1, **scores(space, test, points[:1])}), flush=True)
                print(json.dumps({**row, "fit": mode, "tta_views": views, **scores(space, test, points)}), flush=True)
        else:
            for length in (int(n) for n in args.lengths.split(",")):
                started = time.perf_counter()
                surrogate = fitted(train_texts, targets, seed, max_length=length)
                fit_s = time.perf_counter() - started
                started = time.perf_counter()
                result = scores(space, test, [point(surrogate, test_texts, seed)])
                speed = len(test) / (time.perf_counter() - started)
                timing = {"fit_s": round(fit_s, 1), "archs_per_s": round(speed, 1)}
                print(json.dumps({**row, "max_length": length, **timing, **result}), flush=True)


if __name__ == "__main__":
    main()
