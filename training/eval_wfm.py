"""``worldfm eval wfm``: rollouts of a world model against the simulator's true frames.

On held-out clips (whose keys training never saw) the model gets the first
``context_frames`` true frames and the clip's own conditioning (actions, camera poses, ego
trajectory, caption) and predicts ``horizon`` frames. Reported side by side:

- pixel PSNR / SSIM per rollout, against copying the last context frame (doing nothing);
- whether it follows what it is told: for every input the checkpoint takes (``WorldModel.inputs``:
  actions, ego trajectory, camera poses, caption) the same rollouts with another held-out episode's
  input (rolled across the clips; ``other_<input>_psnr``, and ``shuffled_actions_psnr`` for actions)
  and with none (``no_<input>_psnr``: the learned null the model was trained with by dropout, or
  None and ``no_<input>_why`` where it has none); a model that ignores an input scores the same
  three times;
- latent-space MSE of the predicted latents against the true next latents, against copying
  the last latent (pixel PSNR hides this: the decoder leans on the true past);
- the tokenizer's own reconstruction PSNR of the true frames: the ceiling for any prediction;
- for multi-view models the PSNRs per view too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from curation.video_io import write_video
from training.data import ClipDataset
from worldmodel.metrics import video_psnr, video_ssim
from worldmodel.world import WorldModel

logger = logging.getLogger(__name__)


def _mean_metric(fn, a: np.ndarray, b: np.ndarray) -> float:  # noqa: ANN001 - a video metric
    return float(np.mean([fn(x, y) for x, y in zip(a, b, strict=True)]))


def per_step_psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(B, T, H, W, 3) uint8 pairs -> (T,) PSNR averaged over the batch."""
    return np.array(
        [
            np.mean([video_psnr(a[i, t : t + 1], b[i, t : t + 1]) for i in range(len(a))])
            for t in range(a.shape[1])
        ]
    )


# Each input's arrays in ``WorldModel.predict``'s keywords.
INPUT_ARRAYS = {
    "actions": ("actions",),
    "camera": ("camera", "intrinsics"),
    "trajectory": ("trajectory",),
    "text": ("text",),
}


def roll(value: np.ndarray | list) -> np.ndarray | list:
    """Each row replaced by the previous row's (the first by the last): another clip's input."""
    if isinstance(value, list):
        return value[-1:] + value[:-1]
    return value[np.roll(np.arange(len(value)), 1)]


def same_input(own: dict[str, Any], other: dict[str, Any], name: str) -> list[bool]:
    """Per clip, whether the other episode's ``name`` input equals its own (e.g. the same caption)."""
    rows = [own[n] for n in INPUT_ARRAYS[name]], [other[n] for n in INPUT_ARRAYS[name]]
    return [
        all(np.array_equal(np.asarray(a[i]), np.asarray(b[i])) for a, b in zip(*rows, strict=True))
        for i in range(len(rows[0][0]))
    ]


def conditioning_inputs(world: WorldModel, batch: dict, k: int, horizon: int) -> dict[str, Any]:
    """``predict``'s keyword inputs of a batch of windows of ``k + horizon`` frames, per clip."""
    own: dict[str, Any] = {}
    if "actions" in world.inputs:
        # Row t of a window's actions leads from frame t to t+1: rows k-1 .. k+horizon-2 drive the rollout.
        own["actions"] = batch["actions"][:, k - 1 : k - 1 + horizon].numpy()
    if "camera" in world.inputs:
        own["camera"], own["intrinsics"] = batch["camera"].numpy(), batch["intrinsics"].numpy()
    if "trajectory" in world.inputs:
        own["trajectory"] = batch["trajectory"].numpy()
    if "text" in world.inputs:
        own["text"] = list(batch["caption"])
    return own


@torch.no_grad()
def evaluate_wfm(
    ckpt: str | Path,
    data: list[str] | None = None,
    *,
    clips: int = 16,
    horizon: int = 16,
    steps: int | None = None,
    seed: int = 0,
    video_out: str | Path | None = None,
    batch_size: int = 8,
    precision: str | None = None,
    frame_stride: int = 1,
) -> dict[str, Any]:
    """Score a world model's rollouts on held-out clips; see the module docstring.

    ``precision`` ("fp32" / "bf16"; default the checkpoint's) is ``WorldModel``'s. ``frame_stride``
    takes every n-th source frame (camera / driving models, whose poses say how far each step goes).
    """
    world = WorldModel.from_pretrained(ckpt, precision=precision)
    steps = world.default_steps if steps is None else steps
    info = world.info
    data = data or list(info.data)
    if not data:
        raise ValueError("pass --data: the checkpoint does not record its training data")
    k = world.context_frames
    size = info.frame_size or (64, 64)
    views = world.views or ("primary",)
    arrays = ("actions",) if world.action_dim else ()
    arrays += ("camera", "intrinsics") if world.camera_dim else ()
    arrays += ("trajectory",) if world.uses_trajectory else ()
    if frame_stride < 1:
        raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")
    if frame_stride > 1 and world.action_dim:
        raise ValueError("frame_stride > 1 needs a camera or trajectory model: actions are per source step")
    dataset = ClipDataset(
        data,
        frames=(k + horizon - 1) * frame_stride + 1,
        size=(size[0], size[1] // len(views)),
        views=views,
        arrays=arrays,
        split="heldout",
        heldout_fraction=info.heldout_fraction,
    )
    batch = dataset.sample_batch(clips, np.random.default_rng(seed))
    batch["video"] = batch["video"][:, :, ::frame_stride]
    for name in ("camera", "intrinsics", "trajectory"):
        if name in batch:
            batch[name] = batch[name][:, ::frame_stride]
    video = (
        ((batch["video"].permute(0, 2, 3, 4, 1) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    )
    context, truth = video[:, :k], video[:, k:]  # (B, K, H, W, 3), (B, H, H, W, 3)
    own = conditioning_inputs(world, batch, k, horizon)

    def rollout(condition: dict[str, Any], drop: tuple[str, ...] = ()) -> np.ndarray:
        out = []
        for start in range(0, clips, batch_size):
            sl = slice(start, start + batch_size)
            extra = {name: value[sl] for name, value in condition.items()}
            out.append(
                world.predict(
                    context[sl], horizon=horizon, seed=seed, steps=steps, drop=drop, guardrails=False, **extra
                )
            )
        return np.concatenate(out)

    predicted = rollout(own)
    copy_last = np.repeat(context[:, -1:], horizon, axis=1)
    true_latents = world.encode(truth)  # (B, C, H, h, w)
    pred_latents = world.encode(predicted)
    last_latent = world.encode(context[:, -1:])
    reconstruction = world.decode(true_latents)
    result = {
        "clips": clips,
        "horizon": horizon,
        "frame_stride": frame_stride,
        "steps": steps,
        "precision": world.precision,
        "psnr": _mean_metric(video_psnr, truth, predicted),
        "ssim": _mean_metric(video_ssim, truth, predicted),
        "copy_last_psnr": _mean_metric(video_psnr, truth, copy_last),
        "copy_last_ssim": _mean_metric(video_ssim, truth, copy_last),
        "tokenizer_psnr": _mean_metric(video_psnr, truth, reconstruction),
        "latent_mse": float(torch.mean((pred_latents - true_latents) ** 2)),
        "copy_last_latent_mse": float(torch.mean((last_latent - true_latents) ** 2)),
        "psnr_per_step": per_step_psnr(truth, predicted).round(2).tolist(),
        "copy_last_psnr_per_step": per_step_psnr(truth, copy_last).round(2).tolist(),
        "inputs": list(world.inputs),
    }
    truth_views = world.split_views(truth) if world.views else {}

    def score_views(label: str, frames: np.ndarray) -> None:
        for view, part in world.split_views(frames).items() if world.views else ():
            result[f"{label}psnr_{view}"] = _mean_metric(video_psnr, truth_views[view], part)

    def score(label: str, frames: np.ndarray) -> None:
        result[f"{label}psnr"] = _mean_metric(video_psnr, truth, frames)
        result[f"{label}ssim"] = _mean_metric(video_ssim, truth, frames)
        result[f"{label}psnr_per_step"] = per_step_psnr(truth, frames).round(2).tolist()
        score_views(label, frames)

    score_views("", predicted)
    score_views("copy_last_", copy_last)
    for name in world.inputs:
        # Another held-out episode's input: each clip gets the previous clip's (rolled across the batch).
        other = {**own, **{n: roll(v) for n, v in own.items() if n in INPUT_ARRAYS[name]}}
        result[f"other_{name}_same"] = sum(same_input(own, other, name))
        score(f"other_{name}_", rollout(other))
        why = world.null_missing(name)
        if why is None:
            without = {n: v for n, v in own.items() if n not in INPUT_ARRAYS[name]}
            score(f"no_{name}_", rollout(without, (name,)))
            result[f"{name}_gain_db"] = result["psnr"] - result[f"no_{name}_psnr"]
        else:
            result[f"no_{name}_psnr"] = None
            result[f"no_{name}_why"] = why
    if "actions" in world.inputs:
        result["shuffled_actions_psnr"] = result["other_actions_psnr"]  # the name older reports read
    if video_out is not None:
        rows = [np.concatenate([truth[i], predicted[i], copy_last[i]], axis=2) for i in range(min(4, clips))]
        write_video(video_out, np.concatenate(rows, axis=1), fps=8)
        result["video"] = str(video_out)
    return result


# --- a steps x precision sweep, and the checkpoint defaults it decides ------------------------


def sweep_wfm(
    ckpt: str | Path,
    data: list[str] | None = None,
    *,
    steps: Sequence[int] | None = None,
    precisions: Sequence[str] | None = None,
    on_result: Callable[[dict], None] | None = None,
    **kwargs: Any,
) -> dict[tuple[int, str], dict]:
    """``evaluate_wfm`` at every precision x sampler step count (None: the checkpoint's / machine's
    choice), keyed by ``(steps, precision)``; ``on_result`` sees each result as it comes."""
    results: dict[tuple[int, str], dict] = {}
    for precision in precisions or [None]:
        for n in steps or [None]:
            r = evaluate_wfm(ckpt, data, steps=n, precision=precision, **kwargs)
            results[r["steps"], r["precision"]] = r
            if on_result is not None:
                on_result(r)
    return results


def pick_sweep_defaults(results: dict[tuple[int, str], dict]) -> tuple[dict, float | None]:
    """The best result of a steps x precision sweep and bf16's PSNR cost at its step count.

    Steps are picked on fp32 where it was measured (the precision every machine can run), so the
    card's headline does not depend on whether the evaluating machine had bf16 units.
    """
    fp32 = [r for r in results.values() if r["precision"] == "fp32"] or list(results.values())
    best = max(fp32, key=lambda r: r["psnr"])
    pair = results.get((best["steps"], "fp32")), results.get((best["steps"], "bf16"))
    cost = pair[0]["psnr"] - pair[1]["psnr"] if pair[0] and pair[1] else None
    return best, cost


def sweep_defaults(results: dict[tuple[int, str], dict], *, steps_swept: bool) -> dict[str, Any]:
    """The checkpoint's ``world_model`` defaults a sweep decides: the best sampler steps (when several
    were compared) and bf16's PSNR cost. Precision is not one: bf16's speed depends on the machine,
    so each machine chooses at load time (``worldmodel.precision.choose_precision``)."""
    best, cost = pick_sweep_defaults(results)
    defaults: dict[str, Any] = {}
    if steps_swept:
        defaults["sampler_steps"] = best["steps"]
    if cost is not None:
        defaults["bf16_cost_db"] = round(cost, 3)
    return defaults


def record_sweep(
    ckpt: str | Path, results: dict[tuple[int, str], dict], *, steps_swept: bool, eval_command: str
) -> Path:
    """Write the sweep's defaults into ``ckpt`` (``WorldModel.predict`` and the envs use them from
    now on) and its model card; returns the card's path."""
    from training.model_card import wfm_card, write_card
    from worldmodel import hub

    defaults = sweep_defaults(results, steps_swept=steps_swept)
    if defaults:
        hub.update_info(ckpt, **defaults)  # an old `precision` key is dropped by the migration
    best, _ = pick_sweep_defaults(results)
    card = wfm_card(ckpt, best, eval_command=eval_command, sweep=list(results.values()))
    return write_card(ckpt, card)
