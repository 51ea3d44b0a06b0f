"""Rendering a report's rows: ``report.md`` with PNG plots beside it, and a self-contained ``report.html``.

Both documents are made from one list of blocks (headings, paragraphs, tables, figures), so they
always say the same thing; the HTML embeds the PNGs as base64 and needs no other file.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from nasrlm.core.cache import atomic_write_bytes, atomic_write_text

__all__ = ["aggregate", "describe", "load_predictions", "load_rows", "render_report", "score_table", "selected_rows"]

if TYPE_CHECKING:
    from nasrlm.report.runner import ReportConfig

RESULTS = "results.jsonl"
Block = tuple[str, Any]  # ("h2", text) | ("p", text) | ("table", (header, rows)) | ("img", (file, caption))


# --- results on disk (written by nasrlm.report.runner) ---------------------------------------------------
def load_rows(out: str | Path) -> list[dict[str, Any]]:
    """Rows of ``OUT/results.jsonl`` (empty if none yet)."""
    path = Path(out) / RESULTS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load_predictions(out: str | Path, row: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The arrays behind one row: ``test_idx``, and per objective ``true_<o>``, ``pred_<o>`` and, for
    the RLM, ``low50_<o>``, ``high50_<o>``, ``low90_<o>``, ``high90_<o>``."""
    with np.load(Path(out) / row["predictions"]) as data:
        return {key: data[key] for key in data.files}


class _Runs(Protocol):
    """What selects a report's rows: a space report's config or a text report's."""

    @property
    def predictors(self) -> tuple[str, ...]: ...

    @property
    def train_sizes(self) -> tuple[int, ...]: ...

    @property
    def seeds(self) -> int: ...

    def run_key(self, predictor: str) -> str: ...


def selected_rows(config: _Runs, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows of ``rows`` that belong to ``config``, in the report's order (predictor, size, seed)."""
    by_key = {(r["predictor"], r["size"], r["seed"], r["key"]): dict(r) for r in rows}
    keys = [
        (name, size, seed, config.run_key(name))
        for name in config.predictors
        for size in config.train_sizes
        for seed in range(config.seeds)
    ]
    return [by_key[key] for key in keys if key in by_key]


# --- tables ---------------------------------------------------------------------------------------
def _groups(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, int], list[Mapping[str, Any]]]:
    groups: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["predictor"], row["size"]), []).append(row)
    return groups


def aggregate(rows: Sequence[Mapping[str, Any]], objective: str, metric: str) -> dict[tuple[str, int], np.ndarray]:
    """``(predictor, size) -> values over seeds`` of one score (groups lacking it are left out)."""
    out = {}
    for key, group in _groups(rows).items():
        values = [row["scores"][objective].get(metric) for row in group]
        if all(v is not None for v in values):
            out[key] = np.array(values, dtype=np.float64)
    return out


def _mean_std(values: np.ndarray, digits: int = 3) -> str:
    if np.isnan(values).any():
        return "n/a"
    text = f"{values.mean():.{digits}f}"
    return text if len(values) == 1 else f"{text} ± {values.std():.{digits}f}"  # population std over seeds


def score_table(rows: Sequence[Mapping[str, Any]], objectives: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Kendall tau and Spearman rho, mean ± std over seeds, per predictor and train size."""
    header = ["predictor", "N", "seeds"]
    for objective in objectives:
        header += [f"{objective} τ", f"{objective} ρ"]
    table = []
    for (name, size), group in _groups(rows).items():
        line = [name, str(size), str(len(group))]
        for objective in objectives:
            for metric in ("kendall", "spearman"):
                line.append(_mean_std(np.array([r["scores"][objective][metric] for r in group], dtype=np.float64)))
        table.append(line)
    return header, table


def _share_table(
    rows: Sequence[Mapping[str, Any]],
    objectives: Sequence[str],
    metrics: Sequence[tuple[str, str]],
    *,
    percent: bool = True,
) -> tuple[list[str], list[list[str]]]:
    header = ["predictor", "N"] + [f"{o} {label}" for o in objectives for _, label in metrics]
    table = []
    for (name, size), group in _groups(rows).items():
        cells = []
        for objective in objectives:
            for metric, _ in metrics:
                values = [r["scores"][objective].get(metric) for r in group]
                if None in values:
                    cells.append("-")
                elif percent:
                    cells.append(_mean_std(100 * np.array(values, dtype=np.float64), 1) + " %")
                else:
                    cells.append(_mean_std(np.array(values, dtype=np.float64)))
        if any(cell != "-" for cell in cells):
            table.append([name, str(size), *cells])
    return header, table


def _time_table(rows: Sequence[Mapping[str, Any]], tested: str = "archs") -> tuple[list[str], list[list[str]]]:
    # Where N does not count what is trained on (whole groups of rows), also the rows trained on.
    counted = any(r.get("n_train", r["size"]) != r["size"] for r in rows)
    header = ["predictor", "N", *([f"train {tested}"] if counted else []), "fit s", "predict s"]
    header += [f"test {tested}", f"{tested}/s"]
    table = []
    for (name, size), group in _groups(rows).items():
        fit, predict = np.mean([r["fit_s"] for r in group]), np.mean([r["predict_s"] for r in group])
        n_test = int(np.mean([r["n_test"] for r in group]))
        trained = [f"{np.mean([r.get('n_train', size) for r in group]):,.0f}"] if counted else []
        table.append(
            [name, str(size), *trained, f"{fit:.1f}", f"{predict:.1f}", f"{n_test:,}", f"{n_test / predict:,.0f}"]
        )
    return header, table


def describe(config: ReportConfig) -> dict[str, str]:
    """The settings a reader needs to interpret the report."""
    r = config.rlm
    return {
        "space": config.space,
        "objectives": ", ".join(config.objectives),
        "predictors": ", ".join(config.predictors),
        "train sizes": ", ".join(str(n) for n in config.train_sizes),
        "seeds": f"{config.seeds} (splits baselines.random_split(size, N, seed), shared by every predictor)",
        "test archs": "all not trained on" if config.test_size is None else f"{config.test_size:,} random of the rest",
        "RLM": (
            f"{'shipped pretrained default' if r.init is None else r.init}, fine-tuned {r.epochs} epochs max "
            f"(patience {r.patience}, batch {r.batch_size}, lr {r.lr:g}, "
            f"encoder {'frozen' if r.freeze_encoder else 'trained'}); "
            f"{r.samples} samples per prediction, median as point"
        ),
        "baselines": "benchmark settings"
        if config.baseline_epochs is None
        else f"{config.baseline_epochs} epochs (quick)",
    }


# --- plots ----------------------------------------------------------------------------------------
def _plot_tau(
    rows: Sequence[Mapping[str, Any]],
    objectives: Sequence[str],
    path: Path,
    units: tuple[str, str] = ("archs", "archs"),
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(objectives), figsize=(5 * len(objectives), 3.8), squeeze=False)
    for axis, objective in zip(axes[0], objectives, strict=True):
        taus = aggregate(rows, objective, "kendall")
        for name in dict.fromkeys(key[0] for key in taus):
            sizes = sorted(size for key_name, size in taus if key_name == name)
            means = [taus[(name, n)].mean() for n in sizes]
            stds = [taus[(name, n)].std() for n in sizes]
            axis.errorbar(sizes, means, yerr=stds, marker="o", capsize=3, label=name)
        axis.set_xscale("log")
        ticks = sorted({size for _, size in taus})
        axis.set_xticks(ticks, [str(n) for n in ticks])
        axis.minorticks_off()
        axis.set_xlabel(f"train {units[0]} N")
        axis.set_ylabel(f"Kendall τ on held-out {units[1]}")
        axis.set_title(objective)
        axis.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8)
    figure.tight_layout()
    _save_figure(figure, path)


def _plot_scatter(out: Path, rows: Sequence[Mapping[str, Any]], objective: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # One panel per predictor: its run with the largest train size and the lowest seed.
    chosen: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        best = chosen.get(row["predictor"])
        if best is None or (row["size"], -row["seed"]) > (best["size"], -best["seed"]):
            chosen[row["predictor"]] = row
    columns = min(4, len(chosen))
    lines = -(-len(chosen) // columns)
    figure, axes = plt.subplots(lines, columns, figsize=(3.4 * columns, 3.2 * lines), squeeze=False)
    log = objective.startswith("latency_")
    for axis, (name, row) in zip(axes.flat, chosen.items(), strict=False):
        data = load_predictions(out, row)
        truth, predicted = data[f"true_{objective}"], data[f"pred_{objective}"]
        # Thousands of points need small faint markers; a few hundred stay visible with bigger ones.
        dense = len(truth) > 2000
        axis.scatter(truth, predicted, s=2 if dense else 6, alpha=0.25 if dense else 0.6, linewidths=0, rasterized=True)
        finite = np.concatenate([truth, predicted])
        finite = finite[np.isfinite(finite) & ((finite > 0) if log else True)]
        if finite.size:
            low, high = finite.min(), finite.max()
            axis.plot([low, high], [low, high], color="black", linewidth=0.8)
        if log:
            axis.set_xscale("log")
            axis.set_yscale("log")
        axis.set_title(f"{name}, N={row['size']}, τ={row['scores'][objective]['kendall']:.3f}", fontsize=9)
        axis.set_xlabel(f"true {objective}", fontsize=8)
        axis.set_ylabel("predicted", fontsize=8)
    for axis in list(axes.flat)[len(chosen) :]:
        axis.set_visible(False)
    figure.tight_layout()
    _save_figure(figure, path)


def _save_figure(figure: Any, path: Path) -> None:
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())


# --- documents ------------------------------------------------------------------------------------
def _blocks(
    out: Path,
    rows: Sequence[Mapping[str, Any]],
    objectives: Sequence[str],
    settings: Mapping[str, str],
    units: tuple[str, str] = ("archs", "archs"),
) -> list[Block]:
    trained, tested = units
    latency = [o for o in objectives if o.startswith("latency_")]
    blocks: list[Block] = [("table", (["setting", "value"], [[k, v] for k, v in settings.items()]))]
    blocks += [
        ("h2", f"Rank correlation on held-out {tested}"),
        ("p", "Kendall τ-b and Spearman ρ (scipy) between predicted and true values, mean ± std over seeds."),
        ("table", score_table(rows, objectives)),
    ]
    if len({row["size"] for row in rows}) > 1:
        _plot_tau(rows, objectives, out / "tau_vs_size.png", units)
        blocks.append(("img", ("tau_vs_size.png", f"Kendall τ against the number of training {trained}")))
    within = _share_table(rows, objectives, [("group_kendall", "within-group τ")], percent=False)
    if within[1]:
        blocks += [
            ("h2", "Rank correlation within held-out groups"),
            (
                "p",
                "Kendall τ-b within each held-out group of two or more rows whose true values differ, "
                "averaged over the groups, then mean ± std over seeds: how well a predictor ranks the rows "
                "of one group (n/a: no such group).",
            ),
            ("table", within),
        ]
    proxies = any(row["predictor"] in ("flops", "params") for row in rows)
    note = " (the proxies predict FLOPs or params, not the objective's units: only their order counts)"
    blocks.append(("h2", "Predicted against true"))
    for objective in objectives:
        name = f"scatter_{objective}.png"
        _plot_scatter(out, rows, objective, out / name)
        blocks.append(
            (
                "img",
                (
                    name,
                    f"{objective}: each predictor's largest-N run (first seed); line: y = x{note if proxies else ''}",
                ),
            )
        )
    if latency:
        blocks += [
            ("h2", "Latency within ±10 %"),
            (
                "p",
                f"Share of test {tested} whose predicted latency is within 10 % of the true latency"
                + (" (meaningless for the proxies, which predict FLOPs or params)." if proxies else "."),
            ),
            ("table", _share_table(rows, latency, [("within10", "within ±10 %")])),
        ]
    calibration = _share_table(rows, objectives, [("cover50", "50 % cover"), ("cover90", "90 % cover")])
    if calibration[1]:
        blocks += [
            ("h2", "Calibration of the RLM's uncertainty"),
            (
                "p",
                "Share of true values inside the central 50 % and 90 % intervals of the RLM's samples; "
                "a calibrated model covers 50 % and 90 %.",
            ),
            ("table", calibration),
        ]
    blocks += [("h2", "Time"), ("p", "Mean over seeds, on this machine."), ("table", _time_table(rows, tested))]
    return blocks


def _markdown(title: str, blocks: Sequence[Block]) -> str:
    parts = [f"# {title}"]
    for kind, content in blocks:
        if kind == "h2":
            parts.append(f"## {content}")
        elif kind == "p":
            parts.append(content)
        elif kind == "table":
            header, table = content
            lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in table]
            parts.append("\n".join(lines))
        else:
            file, caption = content
            parts.append(f"![{caption}]({file})\n\n*{caption}*")
    return "\n\n".join(parts) + "\n"


def _html(title: str, blocks: Sequence[Block], out: Path) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0;font-size:14px}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
        "img{max-width:100%}figcaption{font-style:italic;font-size:13px}</style>",
        f"</head><body><h1>{e(title)}</h1>",
    ]
    for kind, content in blocks:
        if kind in ("h2", "p"):
            parts.append(f"<{kind}>{e(content)}</{kind}>")
        elif kind == "table":
            header, table = content
            parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in line) + "</tr>" for line in table]
            parts.append("</table>")
        else:
            file, caption = content
            data = base64.b64encode((out / file).read_bytes()).decode("ascii")
            parts.append(
                f'<figure><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{e(caption)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render_report(
    out: str | Path,
    rows: Sequence[Mapping[str, Any]],
    objectives: Sequence[str],
    settings: Mapping[str, str],
    *,
    title: str = "nasrlm report",
    units: tuple[str, str] = ("archs", "archs"),
) -> list[Path]:
    """Write ``report.md`` (plots as PNG files beside it) and a self-contained ``report.html``.
    ``units``: what a train size counts and what is tested ("archs"; "rows" or "groups" on text)."""
    if not rows:
        raise ValueError("no finished runs to report")
    out = Path(out)
    blocks = _blocks(out, rows, objectives, settings, units)
    atomic_write_text(out / "report.md", _markdown(title, blocks))
    atomic_write_text(out / "report.html", _html(title, blocks, out))
    return [out / "report.md", out / "report.html"]
