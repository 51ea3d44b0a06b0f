"""The RLM sampler in your own NAS loop: a search space that exists only in this file.

Run: python examples/own_space_search.py [--budget 24] [--seed 0]

A small family of CNNs (depth, width, kernel size, activation, pooling) is searched for two
objectives: accuracy on a synthetic image task after a short training (maximize) and parameter
count (minimize). Nothing here is registered with nasrlm: the sampler gets Optuna distributions
and a function from trial parameters to a ``(torch module, example input)`` pair, which it
exports to ONNX text for the RLM to read. The evaluation is real (a few hundred SGD steps), so a
trial costs about a second; replace ``evaluate`` with your own training.
"""

from __future__ import annotations

import argparse

import optuna
import torch
from torch import nn

from nasrlm.search.sampler import RLMSampler, RLMSamplerConfig

SPACE = {
    "depth": optuna.distributions.IntDistribution(1, 3),
    "width": optuna.distributions.CategoricalDistribution([4, 8, 16, 32]),
    "kernel": optuna.distributions.CategoricalDistribution([1, 3, 5]),
    "activation": optuna.distributions.CategoricalDistribution(["relu", "gelu", "tanh"]),
    "pool": optuna.distributions.CategoricalDistribution(["max", "avg"]),
}


def build(params: dict) -> nn.Module:
    layers: list[nn.Module] = []
    channels = 1
    for _ in range(params["depth"]):
        layers.append(nn.Conv2d(channels, params["width"], params["kernel"], padding=params["kernel"] // 2))
        layers.append({"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}[params["activation"]]())
        layers.append(nn.MaxPool2d(2) if params["pool"] == "max" else nn.AvgPool2d(2))
        channels = params["width"]
    side = 16 // 2 ** params["depth"]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * side * side, 4))


def to_network(params: dict) -> tuple[nn.Module, torch.Tensor]:
    """What the RLM reads: the module and an input, exported to ONNX text by nasrlm."""
    return build(params).eval(), torch.zeros(1, 1, 16, 16)


def dataset(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Four classes of 16x16 images: a bar's orientation (horizontal, vertical, two diagonals) in noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    images = 0.6 * torch.randn(n, 1, 16, 16, generator=g)
    idx = torch.arange(16)
    offsets = torch.randint(3, 13, (n,), generator=g)
    for i in range(n):
        o, label = int(offsets[i]), int(labels[i])
        if label == 0:
            images[i, 0, o, :] += 1.0
        elif label == 1:
            images[i, 0, :, o] += 1.0
        elif label == 2:
            images[i, 0, idx, idx] += 1.0
        else:
            images[i, 0, idx, 15 - idx] += 1.0
    return images, labels


TRAIN, TEST = dataset(1024, seed=0), dataset(512, seed=1)


def evaluate(params: dict, steps: int = 150) -> tuple[float, float]:
    torch.manual_seed(0)
    model = build(params)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        rows = torch.randint(0, len(TRAIN[1]), (64,))
        loss = nn.functional.cross_entropy(model(TRAIN[0][rows]), TRAIN[1][rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = (model(TEST[0]).argmax(1) == TEST[1]).float().mean().item() * 100
    params_count = sum(p.numel() for p in model.parameters())
    return accuracy, float(params_count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    # A smaller pool than the default 200 for torch modules (each one exported to ONNX): a quick demo.
    config = RLMSamplerConfig(n_startup_trials=min(8, args.budget // 2), pool_random=40, pool_mutations=40)
    sampler = RLMSampler(SPACE, to_network, objectives=["toy_acc", "toy_params"], config=config, seed=args.seed)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        params = {
            "depth": trial.suggest_int("depth", 1, 3),
            "width": trial.suggest_categorical("width", [4, 8, 16, 32]),
            "kernel": trial.suggest_categorical("kernel", [1, 3, 5]),
            "activation": trial.suggest_categorical("activation", ["relu", "gelu", "tanh"]),
            "pool": trial.suggest_categorical("pool", ["max", "avg"]),
        }
        return evaluate(params)

    study.optimize(objective, n_trials=args.budget, show_progress_bar=True)
    print(f"Pareto front after {len(study.trials)} trials (accuracy %, parameters):")
    for trial in sorted(study.best_trials, key=lambda t: t.values[1]):
        print(f"  {trial.values[0]:5.1f}  {int(trial.values[1]):>6}  {trial.params}")


if __name__ == "__main__":
    main()
