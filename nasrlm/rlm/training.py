"""Training the RLM: cross-entropy on number tokens, AdamW/Adafactor, warmup + cosine decay,
gradient clipping, early stopping on a held-out split, resumable checkpoints, and a frozen-encoder
mode that encodes every input once so that fine-tuning touches only the decoder (seconds)."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from nasrlm.core.cache import atomic_write_bytes
from nasrlm.rlm.model import RegressionLM

__all__ = ["EncodedData", "TrainConfig", "TrainResult", "encode_states", "train"]


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 60
    batch_size: int = 16
    lr: float = 1e-3
    encoder_lr_scale: float = 1.0  # the encoder's learning rate relative to lr (e.g. 0.3 when fine-tuning)
    # Layer-wise decay: encoder layer i (of n, counted from the input) learns at decay**(n - i) of the
    # encoder rate, its embeddings at decay**(n + 1); lower layers hold the most general pretraining.
    layer_lr_decay: float = 1.0
    # The decoder's transformer layers learn at this fraction of lr (its objective embeddings and
    # output head at the full rate): a pretrained decoder that reads the encoder well keeps most of it.
    decoder_lr_scale: float = 1.0
    # The value-state projection (EncoderConfig.value_states) learns at this multiple of lr, whatever
    # the encoder's rate, and also with the encoder frozen: it starts at zero and added a norm of .06
    # to states of norm ~11 in 1,854 pretraining steps at the common rate (c4, c5), too little for the
    # decoder to read the costs line.
    value_lr_scale: float = 1.0
    weight_decay: float = 0.01  # on matrices only (nanoGPT): never on biases, norms or embeddings' padding
    # Decoupled L2-SP (Li et al. 2018, "Explicit inductive bias for transfer learning"): every step
    # pulls each trained parameter back toward its value at the start of training by lr * this * (p - p0),
    # as AdamW's weight decay pulls toward 0, so that a fit on few rows stays near the pretrained model.
    anchor_decay: float = 0.0
    # Dropout in the model while training (None: the model's own, 0 for the shipped one); predictions
    # always run without dropout.
    dropout: float | None = None
    # Each row hides each of its objectives with this probability (at least one stays), so every
    # objective also learns to be decoded without the ones before it: the model then predicts well
    # from sampled context (no exposure bias) and from the input alone (marginal decoding).
    objective_dropout: float = 0.0
    # Ordinal targets for mantissa digits: each digit's target spreads over its neighbours as a
    # Gaussian of this width (in units of that digit) around the true value's position, so that
    # predicting 6 for a 5.9 costs less than predicting 1 (0: one-hot; cf. HL-Gauss, Farebrother
    # et al. 2024, "Stop Regressing"). Sign and exponent tokens stay one-hot.
    digit_smoothing: float = 0.0
    optimizer: Literal["adamw", "adafactor"] = "adamw"
    warmup_fraction: float = 0.05
    grad_clip: float = 1.0
    val_fraction: float = 0.1
    patience: int = 10  # epochs without a better validation loss before stopping
    seed: int = 0
    freeze_encoder: bool = False
    max_minutes: float | None = None  # stop (keeping the best state) once this much time is spent
    checkpoint_dir: str | None = None  # resumable state is written here
    checkpoint_every_steps: int = 200
    progress: bool = True
    # Batches of rows of similar length (each epoch still in a random order): a batch is padded to its
    # longest row, so on texts of mixed lengths (pretraining on several spaces) this saves most of the
    # padding. Off by default: on one space, batches of similar texts are also batches of similar networks.
    length_buckets: bool = False
    # Where to train: "cpu", "cuda" (or "cuda:N"), or "auto" (cuda when torch sees a GPU). The model
    # is trained there and handed back on the CPU, where nasrlm predicts; a checkpoint written on one
    # device resumes on another.
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.optimizer not in ("adamw", "adafactor"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; valid: adamw, adafactor")
        if self.digit_smoothing < 0:
            raise ValueError(f"digit_smoothing must be >= 0, got {self.digit_smoothing}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        if not 0 < self.layer_lr_decay <= 1:
            raise ValueError(f"layer_lr_decay must be in (0, 1], got {self.layer_lr_decay}")
        if not 0 <= self.objective_dropout < 1:
            raise ValueError(f"objective_dropout must be in [0, 1), got {self.objective_dropout}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be None or in [0, 1), got {self.dropout}")
        if self.decoder_lr_scale <= 0 or self.value_lr_scale <= 0 or self.anchor_decay < 0:
            raise ValueError("decoder_lr_scale and value_lr_scale must be > 0, anchor_decay >= 0")
        if not (self.device in ("cpu", "cuda", "auto") or re.fullmatch(r"cuda:\d+", self.device)):
            raise ValueError(f"unknown device {self.device!r}; valid: cpu, cuda, cuda:N, auto")

    def torch_device(self) -> torch.device:
        """The device to train on; ``auto`` is cuda where torch sees a GPU, else the CPU."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {self.device!r}: torch sees no CUDA GPU here; use cpu or auto")
        return torch.device(self.device)


@dataclass
class EncodedData:
    """Model-ready tensors: input ids/mask [N, L], number tokens [N, K, T], present [N, K]."""

    ids: torch.Tensor
    mask: torch.Tensor
    targets: torch.Tensor
    present: torch.Tensor

    def __len__(self) -> int:
        return self.ids.shape[0]

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for tensor in (self.ids, self.mask, self.targets, self.present):
            digest.update(tensor.cpu().numpy().tobytes())
        return digest.hexdigest()[:16]


@dataclass
class TrainResult:
    steps: int
    epochs: int
    seconds: float
    best_val_loss: float
    history: list[dict[str, float]] = field(default_factory=list)
    stopped: str = "epochs"  # epochs | early_stopping | time_budget


@torch.no_grad()
def encode_states(model: RegressionLM, ids: torch.Tensor, mask: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Decoder-width text states of every row, [N, L, D], computed once (eval mode): what a frozen
    encoder makes of the tokens. They hold no value states: ``model.with_values(states, ids)`` adds
    them, with the value projection as it is at that moment (it trains with the encoder frozen)."""
    was_training = model.training
    model.eval()
    device = model.allowed.device
    states = torch.cat(
        [
            model.text_states(ids[i : i + batch_size].to(device), mask[i : i + batch_size].to(device))
            for i in range(0, len(ids), batch_size)
        ]
    )
    model.train(was_training)
    return states


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_val = round(n * fraction) if n >= 20 else 0  # too few rows to spare any
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _encoder_depth(name: str, n_layers: int) -> int:
    """0 for embeddings, i + 1 for the i-th transformer layer, n_layers + 1 for what follows them."""
    import re

    match = re.search(r"(?:^|\.)layers?\.(\d+)\.", name)
    if match:
        return int(match.group(1)) + 1
    return 0 if "embed" in name or "position" in name or name.startswith("value_") else n_layers + 1


def _optimizer(model: RegressionLM, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW/Adafactor with weight decay on matrices only and the encoder's (layer-wise) rates."""

    def decays(name: str, p: torch.Tensor) -> bool:
        return p.dim() >= 2 and "norm" not in name  # matrices; embeddings are matrices too, as in nanoGPT

    groups: dict[tuple[float, bool], list[torch.Tensor]] = {}
    encoder_names = {id(p): n for n, p in model.encoder.named_parameters()}
    n_layers = model.config.encoder.n_layers
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        lr = config.lr
        if id(p) in encoder_names:
            if encoder_names[id(p)].startswith("value_proj."):
                lr *= config.value_lr_scale
            elif config.freeze_encoder:
                continue
            else:
                depth = _encoder_depth(encoder_names[id(p)], n_layers)
                lr *= config.encoder_lr_scale * config.layer_lr_decay ** max(0, n_layers + 1 - depth)
        elif name.startswith("bridge.") and config.freeze_encoder:
            continue  # frozen encoder states were cached after it
        elif name.startswith("layers."):
            lr *= config.decoder_lr_scale
        groups.setdefault((lr, decays(name, p)), []).append(p)
    param_groups = [
        {"params": params, "lr": lr, "weight_decay": config.weight_decay if decay else 0.0}
        for (lr, decay), params in groups.items()
    ]
    if config.optimizer == "adafactor":
        return torch.optim.Adafactor(param_groups, lr=config.lr)
    return torch.optim.AdamW(param_groups, lr=config.lr)


def _anchors(optimizer: torch.optim.Optimizer) -> list[list[torch.Tensor]]:
    """A copy of every trained parameter as it is now, per parameter group (L2-SP's anchors)."""
    return [[p.detach().clone() for p in group["params"]] for group in optimizer.param_groups]


@torch.no_grad()
def _pull_to_anchors(optimizer: torch.optim.Optimizer, anchors: list[list[torch.Tensor]], strength: float) -> None:
    for group, starts in zip(optimizer.param_groups, anchors, strict=True):
        pull = min(1.0, group["lr"] * strength)  # never past the anchor
        for p, start in zip(group["params"], starts, strict=True):
            p.sub_(p - start, alpha=pull)


def _set_dropout(model: torch.nn.Module, rate: float | None) -> list[tuple[torch.nn.Dropout, float]]:
    """Sets every dropout module's rate; returns the previous rates, to restore after training."""
    if rate is None:
        return []
    previous = [(m, m.p) for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    for module, _ in previous:
        module.p = rate
    return previous


def _schedule(optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float):
    warmup = max(1, int(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _drop_objectives(present: torch.Tensor, rate: float, generator: torch.Generator) -> torch.Tensor:
    """``present`` with each objective hidden at ``rate``; every row keeps at least one of its own."""
    keep = torch.rand(present.shape, generator=generator) >= rate
    kept = present & keep
    empty = ~kept.any(1) & present.any(1)
    if empty.any():  # restore one present objective, chosen at random, in rows left with none
        scores = torch.rand(present.shape, generator=generator).masked_fill(~present, -1.0)
        chosen = torch.nn.functional.one_hot(scores.argmax(1), present.shape[1]).bool()
        kept = torch.where(empty[:, None], chosen, kept)
    return kept


def _bucketed(order: np.ndarray, lengths: np.ndarray, batch_size: int, generator: np.random.Generator) -> np.ndarray:
    """``order`` regrouped so that each batch holds rows of similar length; batches in random order.

    Rows are sorted by length within windows of 50 batches (so batches still mix the whole set over
    an epoch), cut into batches, and the full batches shuffled; a last partial batch stays last.
    """
    window = 50 * batch_size
    chunks = [order[i : i + window] for i in range(0, len(order), window)]
    ordered = np.concatenate([c[np.argsort(lengths[c], kind="stable")] for c in chunks])
    batches = [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]
    full = [b for b in batches if len(b) == batch_size]
    rest = [b for b in batches if len(b) < batch_size]
    shuffled = [full[i] for i in generator.permutation(len(full))]
    return np.concatenate(shuffled + rest) if batches else order


def _batch_loss(
    model: RegressionLM,
    data: EncodedData,
    rows: torch.Tensor,
    states: torch.Tensor | None,
    objective_dropout: float = 0.0,
    generator: torch.Generator | None = None,
    digit_smoothing: float = 0.0,
) -> torch.Tensor:
    device = model.allowed.device  # data stays on the CPU; each batch moves to the model's device
    mask = data.mask[rows]
    width = int(mask.sum(1).max())  # trim the padding every row of this batch has
    mask = mask[:, :width].to(device)
    ids = data.ids[rows][:, :width].to(device)
    if states is not None:
        batch_states = model.with_values(states[rows.to(states.device)][:, :width], ids)
    else:
        batch_states = model.encode(ids, mask)
    present = data.present[rows]
    if objective_dropout > 0 and generator is not None:
        present = _drop_objectives(present, objective_dropout, generator)
    targets = data.targets[rows].to(device)
    return model.loss(batch_states, mask, targets, present.to(device), digit_smoothing=digit_smoothing)


@torch.no_grad()
def _eval_loss(
    model: RegressionLM, data: EncodedData, rows: np.ndarray, states: torch.Tensor | None, batch_size: int
) -> float:
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(rows), batch_size * 2):
        chunk = torch.from_numpy(rows[i : i + batch_size * 2])
        total += float(_batch_loss(model, data, chunk, states)) * len(chunk)
        count += len(chunk)
    model.train()
    return total / max(count, 1)


def train(
    model: RegressionLM, data: EncodedData, config: TrainConfig, states: torch.Tensor | None = None
) -> TrainResult:
    """Fit ``model`` in place (ending with its best validation state) and report what happened.

    ``states``: with a frozen encoder, the rows' encoder states [N, L, D] (``encode_states``), when
    the caller has them already (a sampler refitting on the trials of a study); else computed here.

    The global torch RNG is left as it was: a surrogate fitted inside a user's study must not change
    the user's random streams (the run is seeded by ``config.seed`` alone).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return _train(model, data, config, states)


def _train(model: RegressionLM, data: EncodedData, config: TrainConfig, states: torch.Tensor | None) -> TrainResult:
    from tqdm.auto import tqdm

    device = config.torch_device()
    model.to(device)
    generator = np.random.default_rng(config.seed)
    dropout_generator = torch.Generator().manual_seed(config.seed + 1)
    train_rows, val_rows = _split(len(data), config.val_fraction, config.seed)
    # A frozen encoder's text states are computed once; the value projection (if any) still trains,
    # added to them at every step, and the bridge, through which the cached states went, is frozen too.
    for name, p in model.encoder.named_parameters():
        p.requires_grad_(not config.freeze_encoder or name.startswith("value_proj."))
    for p in model.bridge.parameters():
        p.requires_grad_(not config.freeze_encoder)
    if not config.freeze_encoder:
        states = None
    elif states is None:
        states = encode_states(model, data.ids, data.mask)
    elif states.shape[:2] != data.ids.shape or states.shape[2] != model.config.decoder.d_model:
        raise ValueError(f"states of shape {tuple(states.shape)} do not match the data {tuple(data.ids.shape)}")
    else:
        states = states.to(device)
    steps_per_epoch = max(1, math.ceil(len(train_rows) / config.batch_size))
    lengths = data.mask.sum(1).numpy()
    total_steps = steps_per_epoch * config.epochs
    optimizer = _optimizer(model, config)
    scheduler = _schedule(optimizer, total_steps, config.warmup_fraction)
    anchors = _anchors(optimizer) if config.anchor_decay > 0 else []
    dropouts = _set_dropout(model, config.dropout)

    state: dict[str, Any] = {
        "epoch": 0,
        "step": 0,
        "best_val": math.inf,
        "bad_epochs": 0,
        "history": [],
        "seconds": 0.0,
    }
    best_weights = copy.deepcopy(model.state_dict())
    checkpoint = Path(config.checkpoint_dir) / "train_state.pt" if config.checkpoint_dir else None
    # What must match for a checkpoint to be resumed (not the time budget or the progress bar).
    ignored = {"progress": None, "max_minutes": None, "checkpoint_every_steps": None, "device": None}
    identity = {
        "config": dataclasses.asdict(config) | ignored,
        "data": data.fingerprint(),
        "objectives": list(model.objectives),
    }
    if checkpoint is not None and checkpoint.is_file():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if saved["identity"] != identity:
            raise ValueError(
                f"{checkpoint} belongs to a different run (config, data or objectives differ); "
                "delete it or choose another checkpoint_dir"
            )
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        best_weights, state = saved["best_weights"], saved["state"]
        generator.bit_generator.state = saved["numpy_rng"]
        torch.set_rng_state(saved["torch_rng"])
        dropout_generator.set_state(saved["dropout_rng"])

    # The generator's state where the current epoch began: a resumed run draws that epoch's order again.
    epoch_rng = [copy.deepcopy(generator.bit_generator.state)]

    def save_checkpoint() -> None:
        if checkpoint is None:
            return
        import io

        buffer = io.BytesIO()
        torch.save(
            {
                "identity": identity,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "best_weights": best_weights,
                "state": state,
                "numpy_rng": epoch_rng[0],
                "torch_rng": torch.get_rng_state(),
                "dropout_rng": dropout_generator.get_state(),
            },
            buffer,
        )
        atomic_write_bytes(checkpoint, buffer.getvalue())

    started = time.perf_counter() - state["seconds"]
    stopped = "epochs"
    bar = tqdm(total=total_steps, initial=state["step"], desc="training", unit="step", disable=not config.progress)
    model.train()
    while state["epoch"] < config.epochs and not state.get("done"):
        # The epoch's order is drawn even when resuming mid-epoch, so a resumed run replays it exactly.
        epoch_rng[0] = copy.deepcopy(generator.bit_generator.state)
        order = generator.permutation(train_rows)
        if config.length_buckets:
            order = _bucketed(order, lengths, config.batch_size, generator)
        first = state["step"] - state["epoch"] * steps_per_epoch
        out_of_time = False
        for b in range(first, steps_per_epoch):
            rows = torch.from_numpy(order[b * config.batch_size : (b + 1) * config.batch_size])
            loss = _batch_loss(
                model, data, rows, states, config.objective_dropout, dropout_generator, config.digit_smoothing
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            if anchors:
                _pull_to_anchors(optimizer, anchors, config.anchor_decay)
            scheduler.step()
            state["step"] += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", best_val=f"{state['best_val']:.3f}")
            state["seconds"] = time.perf_counter() - started
            if state["step"] % config.checkpoint_every_steps == 0:
                save_checkpoint()
            if config.max_minutes is not None and state["seconds"] > 60 * config.max_minutes:
                out_of_time = True  # checked every step: one epoch of a large set can take many minutes
                break
        if out_of_time:
            # Mid-epoch: save where we are (a rerun replays the rest of this epoch exactly) and stop.
            save_checkpoint()
            stopped = "time_budget"
            break
        state["epoch"] += 1
        epoch_rng[0] = copy.deepcopy(generator.bit_generator.state)
        if not len(val_rows) and state["epoch"] < config.epochs:
            # Nothing held out: no early stopping to decide, so the final weights are kept and the
            # training rows are scored once, at the end (a sampler's fit of 16 rows is one step an
            # epoch; scoring every epoch doubled its time).
            state["seconds"] = time.perf_counter() - started
            save_checkpoint()
            continue
        rows_for_val = val_rows if len(val_rows) else train_rows
        val_loss = _eval_loss(model, data, rows_for_val, states, config.batch_size)
        state["history"].append(
            {
                "epoch": state["epoch"],
                "step": state["step"],
                "val_loss": val_loss,
                "seconds": time.perf_counter() - started,
            }
        )
        if val_loss < state["best_val"] - 1e-4:
            state["best_val"], state["bad_epochs"] = val_loss, 0
            best_weights = copy.deepcopy(model.state_dict())
        else:
            state["bad_epochs"] += 1
        state["seconds"] = time.perf_counter() - started
        if len(val_rows) and state["bad_epochs"] >= config.patience:
            stopped = "early_stopping"
            state["done"] = True  # a rerun with this checkpoint returns the best state at once
        save_checkpoint()
    bar.close()
    for module, rate in dropouts:
        module.p = rate
    if math.isfinite(state["best_val"]):  # else stopped before the first epoch ended: keep the weights as they are
        model.load_state_dict(best_weights)
    model.to("cpu")
    model.eval()
    for p in model.encoder.parameters():
        p.requires_grad_(True)
    return TrainResult(
        steps=state["step"],
        epochs=state["epoch"],
        seconds=time.perf_counter() - started,
        best_val_loss=state["best_val"],
        history=state["history"],
        stopped=stopped,
    )
