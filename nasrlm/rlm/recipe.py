"""The fine-tuning recipe: how a pretrained RLM learns a user's objectives, defined once.

``Surrogate.fit``'s defaults, the RLM sampler, ``nasrlm report``, ``nasrlm verify`` and the
benchmarks in ``experiments/`` all take their settings from :data:`DEFAULT_RECIPE`, so a recipe
chosen by ``experiments/ablate_rlm.py`` changes everywhere at once. Callers that must differ say
how, with overrides (the sampler trains a fixed number of steps and holds nothing out; a few-shot
device fit uses small batches), never by restating the recipe.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from nasrlm.rlm.training import TrainConfig

__all__ = ["DEFAULT_RECIPE", "FineTuneRecipe"]


@dataclass(frozen=True)
class FineTuneRecipe:
    """Training settings (a subset of :class:`~nasrlm.rlm.training.TrainConfig`) and how to predict."""

    freeze_encoder: bool = True  # decoder only: seconds per fit, and encoder states can be cached
    # A fixed length, every row trained on: early stopping on the digit loss of a few held-out rows
    # kept underfit models (ablate_rlm, split seed 100: tau .498 with early stopping, .533 with 15
    # epochs at 156 archs). With dropout (below) the decoder trains twice as long without memorizing
    # its rows: 30 epochs.
    epochs: int = 30
    patience: int = 8  # epochs without a better validation loss before stopping (when rows are held out)
    val_fraction: float = 0.0  # of the training rows, held out for early stopping
    batch_size: int = 16
    lr: float = 1e-3
    encoder_lr_scale: float = 1.0
    layer_lr_decay: float = 1.0
    decoder_lr_scale: float = 1.0
    # The costs line's value projection (models with value states; others ignore it) trains with the
    # encoder frozen, at 30 x lr. Chosen on validation data (experiments/results/screen_value_rate.txt;
    # c7, params / latency Spearman on the own family's validation seed, 40 networks, 3 seeds; NB201
    # acc tau at 156 archs, split seeds 100-103): at 10, family .878 / .823; at 30, .895 / .865 and
    # NB201 .589; at 100, .921 / .872 and .557; at 1, NB201 .601. Faster, the line's values (which
    # NB201's cell ops fix) become a shortcut the decoder fits NB201's rows with; 30 keeps most of
    # the family's gain for .012 of tau.
    value_lr_scale: float = 30.0
    weight_decay: float = 0.01
    anchor_decay: float = 0.0  # L2-SP: pull toward the pretrained weights
    # The decoder fitted 156 rows at train Spearman .98 and ranked unseen archs at .74. ablate_rlm,
    # split seeds 100-103 at 156 archs (acc tau, mean of 4): 16 epochs without dropout .595; 30 epochs
    # with dropout 0.1 / 0.2 / 0.3: .604 / .613 / .598; 60 epochs, 0.2: .570 (seeds 100-101). At 781
    # (seeds 100-101): 20 epochs .682, 41 epochs with 0.2 / 0.3: .691 / .700. Holding the decoder
    # near its pretrained weights ranked worse (L2-SP, a lower decoder rate, fewer steps: .31-.54).
    dropout: float | None = 0.2
    objective_dropout: float = 0.0
    target_transform: str = "auto"  # for objectives new to the model (nasrlm.rlm.targets)
    init_like: bool = False  # a new objective starts as the known objective that ranks its targets best
    # An objective of a model that reads the costs line gets a prior mean, a line on the line's values,
    # where that line's leave-one-out R^2 on the rows reaches this, and the decoder learns the residual
    # (nasrlm.rlm.line_prior); inf: never. Models without value states (v12) are unaffected. Chosen on
    # validation data (experiments/results/screen_line_prior.txt; c7): with no bar the own family's
    # validation seed rose from .895 / .865 to .979 / .976 but NB201 acc tau at 156 fell .589 -> .558
    # (the line predicts little of it: R^2 .05-.32); with .5 / .8 / inf, TransNAS class_object_acc at
    # 16 / 100 shots (validation seeds) .622 / .637, .342 / .578, .236 / .578, and NB201 at 156 .597 /
    # .589 / .589.
    line_prior_min_r2: float = 0.5
    # In fits of up to 128 rows (where a line's R^2 on few rows is noisy and a copy's fit takes
    # seconds), any line better than the mean is kept unless the decoder alone ranks held-out rows
    # better by more than a standard error in this many folds (line_prior.compare_with_decoder); 0: the bar
    # decides at every size. Chosen on validation data (experiments/results/screen_line_prior_cv.txt;
    # c7, transfer seeds 10-12, 16 / 100 shots): TransNAS class_scene_acc .440 -> .611 at 16, NB101
    # acc .488 -> .527 at 100, NB201 acc .483 -> .455 at 16, every other target and shot count, and
    # the own family's validation seed (.999 / .976), unchanged. Those fits choose among lines on the
    # costs and the op census, and a line that wins predicts with its point (line_prior.LinePrior).
    # Validation seeds (experiments/results/screen_census_line.txt), with the census: OFA latency at
    # 100 shots .656 -> .709, FBNet pixel3 .808 -> .852, NB101 acc at 16 .274 -> .381, NB201 acc at
    # 16 .455 -> .445, the rest within .02; a line kept with the decoder's residual ranked below the
    # line alone (NB101 at 16 / 100 shots: .504 / .518 against .601 / .615). Lines fitted to the
    # targets' ranks, and kept unless the decoder wins by a standard error
    # (experiments/results/screen_rank_line.txt): the 12 cells' mean tau .638 with ranks, .669 with
    # the rule too (OFA at 16 .474 -> .716, NB101 at 16 .479 -> .594); .608 in stop 35's validation.
    # Fits of fewer than 32 rows keep the line without folds (line_prior.CV_MIN_ROWS).
    line_prior_folds: int = 4
    num_samples: int = 32  # per prediction
    # Models fitted on the same rows with other seeds (Surrogate.fit's members): predictions pool their
    # samples (num_samples in all) and average their decoded medians. Chosen on validation splits
    # (experiments/bench_rlm.py --recipe members=K, split seeds 100-103, 156 archs, 1,500 test archs;
    # experiments/results/screen_members.txt): v12 acc tau .643 / .659 / .665 with 1 / 2 / 4 members
    # (.748 / .756 with 1 / 2 at 781, split seeds 100-101), c7 .620 / - / .631. Each member is a fit
    # (v12 at 781 archs: ~40 s each), and the fit must stay within 2 minutes at 781 archs: 2.
    # Prediction slows from ~116 to ~94 archs/s (two decoders).
    members: int = 2
    # Sampling temperature of predictions: trained to a fixed length on every row, the model is
    # over-confident at 1.0. The v5 default fits its rows more closely than v3 did (train Spearman
    # .99 at 156 archs), and its intervals were narrower still: at 1.3, 90 % intervals held 61-81 %
    # of the truths. ablate_rlm, split seed 100, 1.3 / 1.6 / 2.0 / 2.5: acc tau .547/.551/.554/.559
    # at 156 and .671/.674/.676/.671 at 781; at 2.5 the 90 % intervals hold 87-95 % (acc, pixel3,
    # eyeriss at both sizes) and the 50 % ones 49-61 %.
    temperature: float = 2.5
    joint: bool = True  # point predictions from joint samples (else each objective from the input alone)
    # bfloat16 where the CPU multiplies it natively (nasrlm.rlm.precision): prediction 95.7 against
    # 72.2 archs/s at 781 archs on this 2-core EPYC, ranks unchanged (acc tau .684 vs .685;
    # experiments/bench_rlm.py --precision auto vs float32).
    precision: str = "auto"

    def with_settings(self, items: list[str]) -> FineTuneRecipe:
        """This recipe with ``KEY=VALUE`` changes, as a benchmark's command line gives them
        (``freeze_encoder=false``, ``epochs=60``, ``dropout=none``); a bad item is a ValueError."""
        fields = {f.name for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for item in items:
            key, _, text = item.partition("=")
            if key not in fields or not text:
                raise ValueError(f"recipe setting {item!r}: give KEY=VALUE with KEY one of {', '.join(sorted(fields))}")
            current = getattr(self, key)
            try:
                if isinstance(current, bool):
                    if text.lower() not in ("true", "false", "1", "0"):
                        raise ValueError
                    changes[key] = text.lower() in ("true", "1")
                elif isinstance(current, int):
                    changes[key] = int(text)
                elif key == "dropout" and text == "none":  # the model's own dropout
                    changes[key] = None
                elif isinstance(current, float) or key == "dropout":
                    changes[key] = float(text)
                else:
                    changes[key] = text
            except ValueError:
                raise ValueError(f"recipe setting {item!r}: {key} takes a value like {current!r}") from None
        return dataclasses.replace(self, **changes)

    def train_config(
        self,
        *,
        seed: int = 0,
        progress: bool = False,
        steps: int | None = None,
        rows: int | None = None,
        **overrides: Any,
    ) -> TrainConfig:
        """The TrainConfig of this recipe; ``steps`` (with ``rows``) sets epochs to about that many steps."""
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        settings = {k: v for k, v in dataclasses.asdict(self).items() if k in fields}
        settings.update(overrides)
        if steps is not None:
            if rows is None:
                raise ValueError("steps needs rows, the number of training rows")
            kept = rows - round(rows * settings["val_fraction"]) if rows >= 20 else rows
            per_epoch = max(1, math.ceil(kept / settings["batch_size"]))
            settings["epochs"] = max(1, math.ceil(steps / per_epoch))
        return TrainConfig(**settings, seed=seed, progress=progress)


DEFAULT_RECIPE = FineTuneRecipe()
