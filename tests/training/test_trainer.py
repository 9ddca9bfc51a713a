import contextlib
import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from training.schedule import lr_at
from training.trainer import EMA, OutDirBusyError, TrainConfig, Trainer, make_optimizer
from worldmodel import hub

W_TRUE = torch.tensor([[1.0, -2.0], [0.5, 0.0], [0.0, 1.5], [-1.0, 0.25]])  # (4, 2)
REPO = Path(__file__).resolve().parents[2]


@dataclass
class MLPConfig:
    width: int = 16
    dropout: float = 0.1


@hub.register("diffusion")
class TrainerTestMLP(nn.Module):
    """A tiny regressor; dropout makes the run depend on the torch random stream, as diffusion noise does."""

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config
        self.net = nn.Sequential(
            nn.Linear(4, config.width), nn.Tanh(), nn.Dropout(config.dropout), nn.Linear(config.width, 2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, 2)


def get_batch(step: int, micro: int) -> dict:
    generator = torch.Generator().manual_seed(1000 * step + micro)
    x = torch.randn(8, 4, generator=generator)  # (B, 4)
    return {"x": x, "y": x @ W_TRUE}


def loss_fn(model: nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
    loss = nn.functional.mse_loss(model(batch["x"]).float(), batch["y"])
    return loss, {"mse": loss.item()}


def noisy_eval(model: nn.Module) -> dict[str, float]:
    """Draws from the global stream, which must not change what training draws next."""
    return {"noise": float(torch.randn(()))}


def tiny_config(out_dir: Path, **overrides: object) -> TrainConfig:
    defaults = {"steps": 10, "grad_accum": 2, "lr": 1e-2, "min_lr": 1e-3, "warmup_steps": 2, "ema_decay": 0.9}
    intervals = {"eval_every": 4, "save_every": 3, "log_every": 1}
    return TrainConfig(**{**defaults, **intervals, "out_dir": str(out_dir), **overrides})


def make_trainer(out_dir: Path, *, seed: int = 0, **overrides: object) -> Trainer:
    torch.manual_seed(seed)
    return Trainer(
        TrainerTestMLP(MLPConfig()),
        tiny_config(out_dir, **overrides),
        loss_fn=loss_fn,
        get_batch=get_batch,
        eval_fn=noisy_eval,
        checkpoint_extra={"purpose": "test"},
    )


def read_metrics(out_dir: Path) -> list[dict[str, str]]:
    with open(out_dir / "logs" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def losses(out_dir: Path) -> dict[int, float]:
    rows = read_metrics(out_dir)
    steps = [int(r["step"]) for r in rows]
    assert len(steps) == len(set(steps)), f"a step is logged twice: {steps}"
    return {int(r["step"]): float(r["losses/total"]) for r in rows}


def state_weights(out_dir: Path) -> dict[str, torch.Tensor]:
    return {
        **load_file(out_dir / "training_state" / "model.safetensors"),
        **{f"ema.{k}": v for k, v in load_file(out_dir / "training_state" / "ema.safetensors").items()},
        **{f"ckpt.{k}": v for k, v in load_file(out_dir / "model.safetensors").items()},
    }


def test_lr_schedule_follows_warmup_then_cosine() -> None:
    kw = dict(base_lr=1.0, min_lr=0.1, warmup_steps=4, total_steps=14)
    assert [lr_at(s, **kw) for s in range(4)] == [0.2, 0.4, 0.6, 0.8]
    for s in range(4, 14):
        ratio = (s - 4) / 10
        assert lr_at(s, **kw) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * ratio)))
    assert lr_at(4, **kw) == 1.0 and lr_at(9, **kw) == pytest.approx(0.55)
    assert lr_at(14, **kw) == lr_at(100, **kw) == 0.1
    with pytest.raises(ValueError, match="warmup_steps"):
        lr_at(0, base_lr=1.0, min_lr=0.1, warmup_steps=-1, total_steps=4)
    # A warmup longer than the run (a smoke test) ramps the whole way, and the floor follows.
    assert lr_at(3, base_lr=1.0, min_lr=0.1, warmup_steps=9, total_steps=4) == 0.4
    assert lr_at(4, base_lr=1.0, min_lr=0.1, warmup_steps=9, total_steps=4) == 0.1


def test_loss_falls_on_a_tiny_regression_problem(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TrainerTestMLP(MLPConfig(width=32, dropout=0.0))
    config = TrainConfig(steps=60, lr=3e-2, min_lr=3e-3, warmup_steps=5, log_every=1, out_dir=str(tmp_path))
    metrics = Trainer(model, config, loss_fn=loss_fn, get_batch=get_batch).fit()
    per_step = losses(tmp_path)
    assert sorted(per_step) == list(range(1, 61))
    first, last = sum(per_step[s] for s in range(1, 6)) / 5, sum(per_step[s] for s in range(56, 61)) / 5
    assert last < 0.2 * first
    assert metrics["losses/total"] == per_step[60] and metrics["losses/mse"] == pytest.approx(per_step[60])
    rows = read_metrics(tmp_path)
    assert [float(r["charts/lr"]) for r in rows] == [config_lr(config, s) for s in range(60)]


def config_lr(config: TrainConfig, step: int) -> float:
    return lr_at(
        step,
        base_lr=config.lr,
        min_lr=config.min_lr,
        warmup_steps=config.warmup_steps,
        total_steps=config.steps,
    )


def test_resumed_run_matches_an_uninterrupted_one_exactly(tmp_path: Path) -> None:
    make_trainer(tmp_path / "full").fit()
    make_trainer(tmp_path / "split").fit(max_steps=5)
    # A fresh process would build the model from another seed: resume must overwrite everything.
    resumed = make_trainer(tmp_path / "split", seed=123)
    resumed.fit()
    assert resumed.step == 10
    assert losses(tmp_path / "split") == losses(tmp_path / "full")
    full, split = state_weights(tmp_path / "full"), state_weights(tmp_path / "split")
    assert full.keys() == split.keys()
    for name in full:
        assert torch.equal(full[name], split[name]), name


def test_metrics_csv_has_each_step_once_after_an_interrupted_run(tmp_path: Path) -> None:
    def failing_batch(step: int, micro: int) -> dict:
        if step == 7:
            raise KeyboardInterrupt
        return get_batch(step, micro)

    trainer = make_trainer(tmp_path)
    trainer.get_batch = failing_batch
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert [int(r["step"]) for r in read_metrics(tmp_path)] == list(range(1, 8))  # step 7 ran, saved at 6
    make_trainer(tmp_path).fit()
    rows = read_metrics(tmp_path)
    assert [int(r["step"]) for r in rows] == list(range(1, 11))
    assert [r["eval/noise"] != "" for r in rows] == [s in (4, 8, 10) for s in range(1, 11)]


def test_ema_differs_from_raw_weights_and_is_what_the_checkpoint_holds(tmp_path: Path) -> None:
    seen: list[nn.Module] = []
    trainer = make_trainer(tmp_path, ema_decay=0.95)
    trainer.eval_fn = lambda model: seen.append(model) or {"calls": len(seen)}
    trainer.fit()
    assert seen and all(m is trainer.ema.shadow for m in seen)
    loaded = hub.load(tmp_path)
    raw = trainer.raw_model.state_dict()
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, trainer.ema.shadow.state_dict()[name])
        if name.endswith("weight"):
            assert not torch.allclose(value, raw[name])
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["purpose"] == "test" and config["training"]["weights"] == "ema"
    state_files = sorted(p.name for p in (tmp_path / "training_state").iterdir())
    assert state_files == ["ema.safetensors", "model.safetensors", "optimizer.safetensors", "state.json"]


def test_ema_update_follows_its_formula() -> None:
    model = nn.Linear(3, 2)
    ema = EMA(model, decay=0.99)
    before = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)  # first update: decay min(0.99, 1 / 10)
    torch.testing.assert_close(ema.shadow.weight, 0.1 * before + 0.9 * model.weight)
    assert ema.current_decay() == pytest.approx(2 / 11)
    target = nn.Linear(3, 2)
    ema.copy_to(target)
    assert torch.equal(target.weight, ema.shadow.weight)


def test_bf16_mixed_precision_runs_a_step_under_autocast(tmp_path: Path) -> None:
    seen: list[tuple[bool, torch.dtype]] = []

    def recording_loss(model: nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        seen.append((torch.is_autocast_enabled(batch["x"].device.type), model.net[0](batch["x"]).dtype))
        return loss_fn(model, batch, step)

    for precision in ("bf16", "no"):  # a second precision in one process (a recipe) must work too
        config = TrainConfig(steps=1, mixed_precision=precision, out_dir=str(tmp_path / precision))
        model = TrainerTestMLP(MLPConfig())
        metrics = Trainer(model, config, loss_fn=recording_loss, get_batch=get_batch).fit()
        assert math.isfinite(metrics["losses/total"])
    assert seen == [(True, torch.bfloat16), (False, torch.float32)]


def test_bad_config_raises_value_error_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"mixed_precision must be one of \('no', 'bf16'\), got 'fp16'"):
        TrainConfig(mixed_precision="fp16")
    for field, value in [("steps", 0), ("grad_accum", 0), ("ema_decay", 1.0), ("warmup_steps", -1)]:
        with pytest.raises(ValueError, match=field):
            TrainConfig(**{field: value})


def test_weight_decay_applies_to_matrices_only() -> None:
    model = TrainerTestMLP(MLPConfig())
    decayed, plain = make_optimizer(model, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.95)).param_groups
    assert decayed["weight_decay"] == 0.1 and all(p.dim() == 2 for p in decayed["params"])
    assert plain["weight_decay"] == 0.0 and all(p.dim() == 1 for p in plain["params"])


@contextlib.contextmanager
def training_process(out_dir: Path, *, batch_delay_s: float) -> Iterator[subprocess.Popen]:
    """This file's tiny run into ``out_dir`` in another process, each batch slowed by ``batch_delay_s``;
    yielded once it has saved its first checkpoint, killed with SIGKILL on exit."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TRAINER_TEST_BATCH_DELAY_S": str(batch_delay_s)}
    process = subprocess.Popen([sys.executable, __file__, str(out_dir)], cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (out_dir / "training_state" / "state.json").exists():
            assert process.poll() is None, "the training script exited before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 60 s"
            time.sleep(0.005)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait()


def test_killed_training_process_resumes_to_the_same_losses_and_weights(tmp_path: Path) -> None:
    out_dir = tmp_path / "killed"
    with training_process(out_dir, batch_delay_s=0.05) as process:
        pass
    assert process.returncode == -signal.SIGKILL
    saved = json.loads((out_dir / "training_state" / "state.json").read_text())["step"]
    assert 3 <= saved < 10

    make_trainer(out_dir).fit()
    make_trainer(tmp_path / "full").fit()
    # Another process may sum in another thread order: equal to float32 rounding, not bit for bit.
    expected, got = losses(tmp_path / "full"), losses(out_dir)
    assert sorted(got) == list(range(1, 11))
    for step in expected:
        assert got[step] == pytest.approx(expected[step], abs=1e-6)
    full, resumed = state_weights(tmp_path / "full"), state_weights(out_dir)
    for name in full:
        torch.testing.assert_close(resumed[name], full[name], atol=1e-6, rtol=0)


def test_a_second_run_into_a_busy_out_dir_is_refused_until_the_first_dies(tmp_path: Path) -> None:
    out_dir = tmp_path / "busy"
    with training_process(out_dir, batch_delay_s=0.2) as process:  # noqa: SIM117 - the match needs its pid
        with pytest.raises(OutDirBusyError, match=rf"pid {process.pid}\).*another --out"):
            make_trainer(out_dir).fit()
    assert process.returncode == -signal.SIGKILL
    # The kernel dropped the dead process's lock: the run resumes and finishes.
    make_trainer(out_dir).fit()
    assert sorted(losses(out_dir)) == list(range(1, 11))


if __name__ == "__main__":
    # The script the kill test runs: the test's tiny run, slowed so the kill lands mid-training.
    delay = float(os.environ.get("TRAINER_TEST_BATCH_DELAY_S", "0"))

    def slow_batch(step: int, micro: int) -> dict:
        time.sleep(delay)
        return get_batch(step, micro)

    trainer = make_trainer(Path(sys.argv[1]))
    trainer.get_batch = slow_batch
    trainer.fit()
