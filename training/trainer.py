"""The training loop every model family uses.

Modelled on nanoGPT's ``train.py`` (config, device setup, ``get_batch``, model,
optimizer, a pure ``get_lr(it)``, one loop: accumulate, clip, step, log, eval,
checkpoint) but as a library class on ``accelerate``: the same code runs on one
CPU in the tests and on many GPUs under ``accelerate launch``.

A model family supplies three functions and the trainer does the rest:

- ``loss_fn(model, batch, step) -> (loss, metrics)``: the scalar loss of one
  micro-batch and floats to log (a name without a group goes under ``losses/``).
  Call ``model(...)`` (its ``forward``), not another method: under multi-GPU
  ``model`` is a DDP wrapper and only ``forward`` synchronises gradients.
- ``get_batch(step, micro) -> dict``: a pure function of the 0-based optimizer
  step and the global micro-batch index (``micro_step * num_processes + rank``,
  so every process draws different data). Purity is what makes resume exact;
  ``training.data.batches_for`` builds one. Tensors in it are moved to the device.
  The global random streams the loss draws from (diffusion noise, dropout) are
  reseeded from ``(seed, step, micro)`` before each micro-batch too, so a run's
  losses do not depend on how many processes share the global batch.
- ``eval_fn(model) -> metrics`` (optional): run on the main process, on the EMA
  model when EMA is on, without gradients and without disturbing the training
  random streams.

Multi-process runs (``accelerate launch``, configs in ``training/accelerate/``) are
data-parallel: DDP (``ddp.yaml``), or fully sharded (FSDP2, ``fsdp.yaml``:
``training.sharding``) when the model's weights, gradients and AdamW moments should be
split across processes. ``batch_size`` is per process and per micro-batch, so the
global batch is ``batch_size * grad_accum * num_processes``; a run keeps its
losses at another world size when that product is kept (2 processes x
``grad_accum=1`` = 1 process x ``grad_accum=2``), sharded or not. Only the main
process writes checkpoints and logs (full weights, gathered when sharded); every
process loads ``training_state/`` on resume, which works at any world size and
either way of parallelising.

Outputs in ``out_dir``: the checkpoint (``config.json`` + ``model.safetensors``
via ``worldmodel.hub.save``; the EMA weights when EMA is on), resume state in
``training_state/`` (safetensors + json, never pickles) and
``logs/metrics.csv`` (plus TensorBoard events when tensorboard is installed).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import csv
import dataclasses
import importlib.util
import json
import logging
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator, PartialState
from accelerate.state import AcceleratorState
from accelerate.utils import DistributedType, gather_object, set_seed
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn
from tqdm.auto import tqdm

from training import sharding
from training.schedule import lr_at
from worldmodel import hub
from worldmodel.atomic import atomic_output

logger = logging.getLogger(__name__)

MIXED_PRECISION = ("no", "bf16")
STATE_DIR = "training_state"
STATE_FORMAT = "worldfm-training-state"
STATE_VERSION = 1
LOG_DIR = "logs"
METRICS_FILE = "metrics.csv"

# Data parallelism, plain or sharded by `training.sharding` (not DeepSpeed, Megatron, XLA ...).
DISTRIBUTED_TYPES = (
    DistributedType.NO,
    DistributedType.MULTI_CPU,
    DistributedType.MULTI_GPU,
    DistributedType.FSDP,
)

LossFn = Callable[[nn.Module, dict, int], tuple[torch.Tensor, dict[str, float]]]
GetBatch = Callable[[int, int], dict]
EvalFn = Callable[[nn.Module], dict[str, float]]


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run; the defaults train a tiny model on a CPU."""

    steps: int = 100
    """optimizer steps in the whole run; the lr schedule spans them"""
    batch_size: int = 8
    """clips per micro-batch per process (global batch = batch_size * grad_accum * processes):
    hand it to `training.data.batches_for`; logged throughput uses it"""
    grad_accum: int = 1
    """micro-batches summed into one optimizer step: a large batch on a small device"""
    lr: float = 1e-3
    """peak learning rate, reached after warmup"""
    min_lr: float = 1e-4
    """the cosine schedule's floor (nanoGPT: about lr / 10)"""
    warmup_steps: int = 10
    """linear warmup from ~0: Adam's second-moment estimates are noise in the first steps"""
    weight_decay: float = 0.01
    """AdamW decoupled decay, applied to >= 2-D weights only"""
    betas: tuple[float, float] = (0.9, 0.95)
    """AdamW betas; beta2 0.95 (nanoGPT) reacts faster to loss spikes than 0.999"""
    grad_clip: float = 1.0
    """clip the global gradient norm to this (0 = off): one bad batch cannot wreck the weights"""
    ema_decay: float = 0.0
    """EMA of the weights (0 = off); diffusion models sample better from the average (e.g. 0.999)"""
    mixed_precision: str = "no"
    """"no" (fp32) or "bf16" autocast: half the activation memory, fp32 master weights, no loss scaling"""
    eval_every: int = 50
    """steps between calls of eval_fn (and once at the end)"""
    save_every: int = 50
    """steps between checkpoints (and once at the end): the most work a kill can lose"""
    log_every: int = 10
    """steps between metric rows in logs/metrics.csv"""
    seed: int = 0
    """with (step, micro) seeds the global random streams the loss may use (noise, dropout);
    data comes from get_batch"""
    out_dir: str = "runs/tiny"
    """the checkpoint directory; training_state/ and logs/ go inside it"""
    save_state: bool = True
    """write training_state/ with each checkpoint and resume from it; off for runs of seconds that
    are rerun rather than resumed (reward heads, clip classifiers): their checkpoint stays alone"""

    def __post_init__(self) -> None:
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(
                f"mixed_precision must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}"
            )
        for name in ("steps", "batch_size", "grad_accum", "eval_every", "save_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"min_lr must be in [0, lr={self.lr}], got {self.min_lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        self.betas = tuple(self.betas)
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if self.grad_clip < 0:
            raise ValueError(f"grad_clip must be >= 0 (0 = off), got {self.grad_clip}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1) (0 = off), got {self.ema_decay}")


class TrainingStateError(ValueError):
    """``training_state/`` cannot be resumed from; the message names the path and the fix."""


class OutDirBusyError(TrainingStateError):
    """Another process is training into the same ``out_dir``: two runs would overwrite each
    other's checkpoints and training state."""


class EMA:
    """Exponential moving average of a model's weights.

    ``shadow`` is a frozen copy of the model whose parameters hold the averages,
    so it is evaluated and saved like the model itself. After ``n`` updates the
    decay is ``min(decay, (1 + n) / (10 + n))`` (TensorFlow's
    ExponentialMovingAverage with ``num_updates``), so a short run is not
    dominated by the initial weights. Buffers are copied, not averaged.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.num_updates = 0
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next ``update`` uses."""
        return min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """``shadow = d * shadow + (1 - d) * model`` for every parameter."""
        weight = 1.0 - self.current_decay()
        for average, param in zip(self.shadow.parameters(), model.parameters(), strict=True):
            average.lerp_(param.detach(), weight)
        for average, buffer in zip(self.shadow.buffers(), model.buffers(), strict=True):
            average.copy_(buffer)
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Overwrite ``model``'s parameters with the averages."""
        for param, average in zip(model.parameters(), self.shadow.parameters(), strict=True):
            param.copy_(average)


def make_optimizer(
    model: nn.Module, *, lr: float, weight_decay: float, betas: tuple[float, float]
) -> torch.optim.AdamW:
    """AdamW that decays only >= 2-D parameters (matrices, embeddings), as nanoGPT does.

    Biases and norm gains are left alone: shrinking them toward 0 has no
    regularising effect and only fights the normalisation.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=betas)


class Trainer:
    """Train ``model`` with AdamW, a warmup-cosine lr, clipping, optional EMA and bf16.

    Args:
        model: a ``@worldmodel.hub.register``-ed model (its dataclass config is saved).
        config: the run's ``TrainConfig``.
        loss_fn, get_batch, eval_fn: see the module docstring.
        checkpoint_extra: json fields stored in the checkpoint's ``config.json``
            (``worldmodel.hub.save(extra=...)``), e.g. the tokenizer a WFM expects.
        export: maps the model to what the checkpoint holds (e.g. LoRA merged into the weights);
            ``training_state/`` keeps the model as trained, so resuming is unaffected.

    Attributes:
        step: optimizer steps done so far (the next step's 0-based index).
        model: the accelerate-prepared model; ``ema``: the ``EMA`` or None.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        *,
        loss_fn: LossFn,
        get_batch: GetBatch,
        eval_fn: EvalFn | None = None,
        checkpoint_extra: dict[str, Any] | None = None,
        export: Callable[[nn.Module], nn.Module] | None = None,
    ) -> None:
        self.config = config
        self.export = export
        self.loss_fn = loss_fn
        self.get_batch = get_batch
        self.eval_fn = eval_fn
        self.checkpoint_extra = dict(checkpoint_extra or {})
        self.out_dir = Path(config.out_dir)
        self.accelerator = _make_accelerator(config)
        acc = self.accelerator
        if acc.distributed_type not in DISTRIBUTED_TYPES:
            raise ValueError(
                f"the Trainer is data-parallel (DDP or FSDP), got {acc.distributed_type}: "
                "launch with training/accelerate/ddp.yaml or fsdp.yaml"
            )
        self.fsdp = sharding.fsdp_requested(acc)
        set_seed(config.seed, device_specific=True)
        # Copied before `prepare`, which patches the model's forward with autocast.
        self.ema = EMA(model, config.ema_decay) if config.ema_decay > 0 else None
        self._full: nn.Module | None = None
        if self.fsdp:
            # The unsharded model: the gathered weights are loaded into it to be saved and evaluated.
            self._full = copy.deepcopy(model).to(acc.device if acc.is_main_process else "cpu")
            reshard = sharding.reshard_after_forward()
            self.model = sharding.shard(model, acc.device, reshard=reshard)
            if self.ema is not None:
                # Sharded like the model, so averaging is shard by shard (and starts from the same weights).
                sharding.shard(self.ema.shadow, acc.device, reshard=reshard)
            self.optimizer = make_optimizer(
                self.model, lr=config.lr, weight_decay=config.weight_decay, betas=config.betas
            )
        else:
            optimizer = make_optimizer(
                model, lr=config.lr, weight_decay=config.weight_decay, betas=config.betas
            )
            self.model, self.optimizer = acc.prepare(model, optimizer)
            if self.ema is not None:
                self.ema.shadow.to(acc.device)
                # DDP broadcast the main process's initial weights; the average starts from those everywhere.
                self.ema.shadow.load_state_dict(self.raw_model.state_dict())
        self.step = 0
        self.wall_time_s = 0.0  # training time over all runs of this out_dir, resumes included
        self._resume_checked = False

    @property
    def raw_model(self) -> nn.Module:
        """The model without accelerate's wrappers, holding the trained (non-EMA) weights
        (its shards, under FSDP)."""
        return self.model if self.fsdp else self.accelerator.unwrap_model(self.model)

    def _gathered(self, model: nn.Module) -> nn.Module | None:
        """``model``'s full weights in one unsharded module on the main process (None elsewhere).
        Under FSDP every process must call it; otherwise it is ``model`` itself."""
        if not self.fsdp:
            return model
        state = sharding.full_state_dict(model)
        return self._loaded(state) if self.accelerator.is_main_process else None

    def lr(self, step: int) -> float:
        """The learning rate of the 0-based ``step``: ``lr_at`` with this run's config."""
        cfg = self.config
        return lr_at(
            step, base_lr=cfg.lr, min_lr=cfg.min_lr, warmup_steps=cfg.warmup_steps, total_steps=cfg.steps
        )

    def fit(self, *, max_steps: int | None = None, resume: bool = True) -> dict[str, float]:
        """Train from ``self.step`` to ``config.steps`` (or ``max_steps``); returns the latest metrics.

        Args:
            max_steps: stop after this many steps in total (the schedule still spans
                ``config.steps``); the state is saved there, so a later ``fit`` continues.
            resume: on the first call, load ``out_dir/training_state`` if it exists.
                The metrics CSV is cut back to the step training starts from either way,
                so it never holds a step twice.
        """
        stop = self.config.steps if max_steps is None else min(max_steps, self.config.steps)
        with _out_dir_lock(self.out_dir, enabled=self.accelerator.is_main_process):
            return self._fit(stop=stop, resume=resume)

    def _fit(self, *, stop: int, resume: bool) -> dict[str, float]:
        cfg, acc = self.config, self.accelerator
        if resume and cfg.save_state and not self._resume_checked:
            self.resume()
        self._resume_checked = True
        # Another Trainer in this process may have changed accelerate's shared accumulation count.
        acc.gradient_accumulation_steps = cfg.grad_accum
        log = _MetricsLog(self.out_dir / LOG_DIR, start_step=self.step, enabled=acc.is_main_process)
        progress = tqdm(
            total=cfg.steps,
            initial=self.step,
            desc="train",
            dynamic_ncols=True,
            disable=not acc.is_main_process,
        )
        metrics: dict[str, float] = {}  # the latest value of every metric
        self.model.train()
        try:
            while self.step < stop:
                started = time.perf_counter()
                loss, parts, grad_norm, lr = self._train_step()
                self.step += 1
                self.wall_time_s += time.perf_counter() - started
                progress.update(1)
                row: dict[str, float] = {}
                if self.step % cfg.log_every == 0 or self.step == stop:
                    row = self._gather_metrics(loss, parts, grad_norm, lr)
                    samples = cfg.batch_size * cfg.grad_accum * acc.num_processes
                    row["charts/samples_per_s"] = samples / (time.perf_counter() - started)
                    progress.set_postfix(loss=f"{row['losses/total']:.4g}")
                if self.eval_fn is not None and (self.step % cfg.eval_every == 0 or self.step == cfg.steps):
                    row.update(self.evaluate())
                if row:
                    log.write(self.step, row)
                    metrics = {**metrics, **row}
                if self.step % cfg.save_every == 0 or self.step == stop:
                    self.save()
        finally:
            progress.close()
            log.close()
        return metrics

    def _train_step(self) -> tuple[torch.Tensor, dict[str, float], torch.Tensor | None, float]:
        """One optimizer step over ``grad_accum`` micro-batches; returns the mean loss and parts."""
        cfg, acc = self.config, self.accelerator
        lr = self.lr(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.fsdp:
            return self._train_step_sharded(lr)
        total = torch.zeros((), device=acc.device)
        parts: dict[str, float] = {}
        grad_norm = None
        for micro in range(cfg.grad_accum):
            index = micro * acc.num_processes + acc.process_index
            _seed_everything(cfg.seed, self.step, index)
            batch = self.get_batch(self.step, index)
            batch = {k: v.to(acc.device) if torch.is_tensor(v) else v for k, v in batch.items()}
            # accumulate() skips the gradient all-reduce and the optimizer step until the last micro-batch.
            with acc.accumulate(self.model):
                with acc.autocast():
                    loss, micro_parts = self.loss_fn(self.model, batch, self.step)
                acc.backward(loss)
                if acc.sync_gradients and cfg.grad_clip > 0:
                    grad_norm = acc.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
            total += loss.detach().float()
            for name, value in micro_parts.items():
                parts[name] = parts.get(name, 0.0) + float(value)
        if self.ema is not None:
            self.ema.update(self.raw_model)
        scale = 1.0 / cfg.grad_accum
        return total * scale, {k: v * scale for k, v in parts.items()}, grad_norm, lr

    def _train_step_sharded(
        self, lr: float
    ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor | None, float]:
        """``_train_step`` for an FSDP model: the same arithmetic, written out without accelerate's
        DDP helpers (its ``accumulate`` / ``backward`` / ``clip_grad_norm_`` expect a prepared model)."""
        cfg, acc = self.config, self.accelerator
        total = torch.zeros((), device=acc.device)
        parts: dict[str, float] = {}
        for micro in range(cfg.grad_accum):
            index = micro * acc.num_processes + acc.process_index
            _seed_everything(cfg.seed, self.step, index)
            batch = self.get_batch(self.step, index)
            batch = {k: v.to(acc.device) if torch.is_tensor(v) else v for k, v in batch.items()}
            # Gradients are reduce-scattered (averaged over processes) after the last micro-batch only.
            self.model.set_requires_gradient_sync(micro == cfg.grad_accum - 1)
            with acc.autocast():
                loss, micro_parts = self.loss_fn(self.model, batch, self.step)
            (loss / cfg.grad_accum).backward()
            total += loss.detach().float()
            for name, value in micro_parts.items():
                parts[name] = parts.get(name, 0.0) + float(value)
        grad_norm = None
        if cfg.grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            grad_norm = sharding.full_tensor(norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.model)
        scale = 1.0 / cfg.grad_accum
        return total * scale, {k: v * scale for k, v in parts.items()}, grad_norm, lr

    def _gather_metrics(
        self, loss: torch.Tensor, parts: dict[str, float], grad_norm: torch.Tensor | None, lr: float
    ) -> dict[str, float]:
        names = ["losses/total"] + [k if "/" in k else f"losses/{k}" for k in parts]
        values = torch.stack([loss.float(), *(torch.tensor(v, device=loss.device) for v in parts.values())])
        if self.accelerator.num_processes > 1:
            values = self.accelerator.reduce(values, reduction="mean")
        metrics = dict(zip(names, values.tolist(), strict=True))
        metrics["charts/lr"] = lr
        if grad_norm is not None:
            metrics["charts/grad_norm"] = float(grad_norm)
        return metrics

    def evaluate(self) -> dict[str, float]:
        """Run ``eval_fn`` on the EMA model (or the raw one) and return ``eval/``-grouped metrics."""
        if self.eval_fn is None:
            return {}
        acc = self.accelerator
        results: dict[str, float] = {}
        model = self._gathered(self.ema.shadow if self.ema is not None else self.raw_model)
        if acc.is_main_process:
            assert model is not None
            was_training = model.training
            model.eval()
            # Evaluation must not shift the random streams, or a run with eval would train differently.
            with _preserved_rng(), torch.no_grad(), acc.autocast():
                raw = self.eval_fn(model)
            model.train(was_training)
            results = {k if "/" in k else f"eval/{k}": float(v) for k, v in raw.items()}
        acc.wait_for_everyone()
        return results

    def save(self) -> Path:
        """Write the checkpoint and ``training_state/`` for the current step; returns ``out_dir``."""
        acc = self.accelerator
        acc.wait_for_everyone()
        rng_states = gather_object([_rng_state()])
        if self.fsdp:
            # Gathered by every process; only the main one keeps (and writes) them.
            raw_state = sharding.full_state_dict(self.model)
            ema_state = sharding.full_state_dict(self.ema.shadow) if self.ema is not None else None
            optimizer_state = sharding.full_optimizer_state(self.model, self.optimizer)
        else:
            raw_state = ema_state = None
            optimizer_state = self.optimizer.state_dict()
        if acc.is_main_process:
            extra = {
                "training": {
                    "step": self.step,
                    "wall_time_s": round(self.wall_time_s, 1),
                    "weights": "ema" if self.ema is not None else "raw",
                    # of the latest session (a resumed run may have changed either)
                    "processes": acc.num_processes,
                    "sharded": self.fsdp,
                    "config": dataclasses.asdict(self.config),
                },
                **self.checkpoint_extra,
            }

            def raw() -> nn.Module:
                return self._loaded(raw_state) if self.fsdp else self.raw_model

            def ema() -> nn.Module:
                assert self.ema is not None
                return self._loaded(ema_state) if self.fsdp else self.ema.shadow

            weights = ema() if self.ema is not None else raw()
            hub.save(self.export(weights) if self.export else weights, self.out_dir, extra=extra)
            if self.config.save_state:
                self._write_state(rng_states, raw, ema if self.ema is not None else None, optimizer_state)
        acc.wait_for_everyone()
        return self.out_dir

    def _loaded(self, state: dict[str, torch.Tensor] | None) -> nn.Module:
        """The unsharded model holding ``state`` (gathered from an FSDP model)."""
        assert self._full is not None and state is not None
        self._full.load_state_dict(state)
        return self._full

    def _write_state(
        self,
        rng_states: list[dict],
        raw: Callable[[], nn.Module],
        ema: Callable[[], nn.Module] | None,
        optimizer_state: dict,
    ) -> None:
        final = self.out_dir / STATE_DIR
        tmp = final.with_name(STATE_DIR + ".tmp")
        old = final.with_name(STATE_DIR + ".old")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_model(raw(), str(tmp / "model.safetensors"))
        if ema is not None:
            save_model(ema(), str(tmp / "ema.safetensors"))
        tensors, optimizer_meta = _flatten_optimizer(optimizer_state)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        state = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "step": self.step,
            "wall_time_s": self.wall_time_s,
            "ema_updates": self.ema.num_updates if self.ema is not None else None,
            "optimizer": optimizer_meta,
            "rng": rng_states,
            "config": dataclasses.asdict(self.config),
        }
        (tmp / "state.json").write_text(json.dumps(state))
        for file in tmp.iterdir():
            _fsync(file)
        # A directory cannot be renamed over a non-empty one: move the old state aside first.
        # A kill between the two renames leaves only `.old`, which `resume` falls back to.
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)

    def resume(self) -> bool:
        """Load ``out_dir/training_state`` if there is one; returns whether it did."""
        path = _find_state(self.out_dir)
        if path is None:
            return False
        acc = self.accelerator
        try:
            state = json.loads((path / "state.json").read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise TrainingStateError(
                f"{path}/state.json is unreadable ({e}); delete {path} to start over"
            ) from None
        if state.get("format") != STATE_FORMAT or state.get("version", 0) > STATE_VERSION:
            raise TrainingStateError(f"{path} is not a training state this worldfm reads (format/version)")
        try:
            self._load_weights(self.raw_model, path / "model.safetensors")
            if self.ema is not None:
                if state["ema_updates"] is None:
                    raise TrainingStateError(
                        f"{path} was saved without EMA but config.ema_decay={self.config.ema_decay}; "
                        "resume with ema_decay=0 or start a new out_dir"
                    )
                self._load_weights(self.ema.shadow, path / "ema.safetensors")
                self.ema.num_updates = state["ema_updates"]
        except RuntimeError as e:
            raise TrainingStateError(
                f"{path} does not match this model ({e}); it was saved for another config, use a new out_dir"
            ) from None
        tensors = load_file(str(path / "optimizer.safetensors"))
        optimizer_state = _unflatten_optimizer(tensors, state["optimizer"])
        if self.fsdp:
            sharding.load_full_optimizer_state(self.model, self.optimizer, optimizer_state)
        else:
            self.optimizer.load_state_dict(optimizer_state)
        # Training reseeds before each micro-batch; the saved streams only matter to code
        # between steps, which a run at another world size starts afresh.
        rng_states = state["rng"]
        if len(rng_states) == acc.num_processes:
            _set_rng_state(rng_states[acc.process_index])
        else:
            logger.info(
                "%s was saved by %d process(es), this run has %d", path, len(rng_states), acc.num_processes
            )
        self.step = int(state["step"])
        self.wall_time_s = float(state.get("wall_time_s", 0.0))
        logger.info("resumed %s at step %d", self.out_dir, self.step)
        return True

    def _load_weights(self, model: nn.Module, path: Path) -> None:
        """Load a saved (full) state into ``model``, resharding it under FSDP."""
        if not self.fsdp:
            load_model(model, str(path))
            return
        assert self._full is not None
        # Through the unsharded model: safetensors stores a tied weight once, the state dict needs both names.
        load_model(self._full, str(path))
        sharding.load_full_state_dict(model, self._full.state_dict())


def end_distributed() -> None:
    """Destroy the process group a multi-process run set up, if any. Call once when a process is
    done training: left to interpreter exit, gloo's threads can abort a process (SIGABRT,
    "terminate called without an active exception") after its run has finished and saved."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def _make_accelerator(config: TrainConfig) -> Accelerator:
    kwargs = {"mixed_precision": config.mixed_precision, "gradient_accumulation_steps": config.grad_accum}
    try:
        return Accelerator(**kwargs)
    except ValueError:
        # accelerate keeps one process-wide state and refuses a second precision, but one process may
        # train several models in turn (a recipe: tokenizer in fp32, then a WFM in bf16). With a single
        # process nothing else depends on that state, so it is safe to start it afresh.
        if PartialState().num_processes > 1:
            raise
        AcceleratorState._reset_state()
        return Accelerator(**kwargs)


LOCK_FILE = ".training.lock"


@contextlib.contextmanager
def _out_dir_lock(out_dir: Path, *, enabled: bool) -> Iterator[None]:
    """Hold an exclusive lock on ``out_dir`` while training into it (the main process only).

    ``flock`` is released by the kernel when the holder dies, so a killed run never leaves a
    stale lock behind; where ``fcntl`` is missing (Windows) nothing is locked.
    """
    try:
        import fcntl
    except ImportError:
        fcntl = None
    if not enabled or fcntl is None:
        yield
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LOCK_FILE
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            raise OutDirBusyError(
                f"{out_dir} is being trained by another process (pid {holder}): two runs would overwrite "
                "each other's checkpoints; wait for it to finish (it resumes from the latest state), "
                "or pass another --out"
            ) from None
        try:
            f.seek(0)
            f.truncate()
            f.write(str(os.getpid()))
            f.flush()
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _find_state(out_dir: Path) -> Path | None:
    """The complete training state in ``out_dir``: ``training_state/``, else the ``.old`` a kill left."""
    for name in (STATE_DIR, STATE_DIR + ".old"):
        if (out_dir / name / "state.json").exists():
            return out_dir / name
    return None


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into ``{"<param>.<name>": tensor}`` and json-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, param_state in state_dict["state"].items():
        for name, value in param_state.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{name}"] = value.detach().contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "state": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {int(k): dict(v) for k, v in meta["state"].items()}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _encode_bytes(tensor: torch.Tensor) -> str:
    return base64.b64encode(tensor.cpu().numpy().tobytes()).decode()


def _decode_bytes(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


def seed_initialisation(seed: int) -> None:
    """Seed every global stream before a trainer builds its model, from the run's ``--seed``.

    This torch starts each process from a random seed, so an unseeded build gave every run of
    the same command its own initial weights (the DiT's zero-initialised gates even hide that from
    the first loss); seeded here, the same command and seed give the same weights.
    """
    set_seed(seed)


def _seed_everything(seed: int, step: int, micro: int) -> None:
    """Seed the python, numpy and torch (CUDA included) global streams from ``(seed, step, micro)``."""
    value = int(np.random.SeedSequence([seed, step, micro]).generate_state(1)[0])
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)


def _rng_state() -> dict[str, Any]:
    """The python, numpy, torch (and CUDA) global random states as json-able values."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": _encode_bytes(torch.get_rng_state()),
    }
    if torch.cuda.is_available():
        state["cuda"] = _encode_bytes(torch.cuda.get_rng_state())
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(_decode_bytes(state["torch"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(_decode_bytes(state["cuda"]))


@contextlib.contextmanager
def _preserved_rng() -> Iterator[None]:
    state = _rng_state()
    try:
        yield
    finally:
        _set_rng_state(state)


class _MetricsLog:
    """``logs/metrics.csv`` (one row per logged step, a column per metric) and optional TensorBoard.

    On creation rows after ``start_step`` are dropped, so a resumed run rewrites
    the steps a kill lost instead of duplicating them. New metric names (the
    first eval) widen the header by rewriting the file atomically.
    """

    def __init__(self, log_dir: Path, *, start_step: int, enabled: bool) -> None:
        self.enabled = enabled
        self.path = log_dir / METRICS_FILE
        self.columns: list[str] = ["step"]
        self.tensorboard = None
        if not enabled:
            return
        log_dir.mkdir(parents=True, exist_ok=True)
        rows = self._read()
        kept = [r for r in rows if int(r["step"]) <= start_step]
        if len(kept) < len(rows):
            logger.info("%s: dropping %d row(s) after step %d", self.path, len(rows) - len(kept), start_step)
            self._rewrite(kept, self.columns)
        if importlib.util.find_spec("tensorboard") is not None:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step drops the events a killed run wrote after its last checkpoint.
            self.tensorboard = SummaryWriter(str(log_dir), purge_step=start_step + 1)

    def _read(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        with open(self.path, newline="") as f:
            reader = csv.DictReader(f)
            self.columns = list(reader.fieldnames or ["step"])
            return list(reader)

    def _rewrite(self, rows: list[dict[str, Any]], columns: list[str]) -> None:
        with atomic_output(self.path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        self.columns = columns

    def write(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        row = {"step": step, **metrics}
        if not self.path.exists() or set(metrics) - set(self.columns):
            columns = ["step", *sorted(set(self.columns[1:]) | set(metrics))]
            self._rewrite([*self._read(), row], columns)
        else:
            with open(self.path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=self.columns).writerow(row)
        if self.tensorboard is not None:
            for name, value in metrics.items():
                self.tensorboard.add_scalar(name, value, step)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
