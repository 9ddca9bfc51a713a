"""Train a clip classifier (``curation.classifiers``) on labelled clips: burned-in text or video type.

    worldfm simulate raw --labelled-clips --episodes 480 --out data/clips --seed 1
    worldfm train classifier --task text-overlay --data data/clips --out checkpoints/text-overlay-mlp

Reads top to bottom: config, data (what the classifier reads of every clip of ``--data``:
its embedding by the curate ``embed`` stage's embedder and / or its text-line features
(``curation.text_features``), each computed once and cached beside the clips), a stratified held-out
split, the model, the project's ``Trainer`` on full batches (it saves the checkpoint through
``worldmodel.hub``), then the held-out evaluation against the majority-class baseline, recorded
in the checkpoint's ``training`` section, and its ``MODEL_CARD.md``. The data is
``worldfm simulate raw --labelled-clips`` output (``envs.sim.raw_clips``): folders with
``clip_*.mp4`` and a ``labels.json``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from curation.classifiers import INPUTS, TASK_INPUTS, TASKS, ClipMLP, ClipMLPConfig, classifier_extra
from curation.embeddings import EmbedderError, embedder_name, make_embedder
from curation.frame_sampling import sample_frames
from curation.text_features import TextFeatureConfig, text_features
from training.runs import head_run
from training.trainer import Trainer
from worldmodel import hub
from worldmodel.atomic import atomic_write_bytes

logger = logging.getLogger(__name__)


@dataclass
class ClassifierTrainArgs:
    task: str = "text-overlay"
    """text-overlay (clean / text) or category (manipulation, driving, camera_motion, other)"""
    data: tuple[str, ...] = ()
    """folders of labelled clips (``worldfm simulate raw --labelled-clips``)"""
    out: str = "checkpoints/text-overlay-mlp"
    """checkpoint directory written"""
    embedder: str = "tokenizer"
    """clip embedder (``curation.embeddings.make_embedder``); the curate ``embed`` stage must use the same"""
    inputs: tuple[str, ...] = ()
    """what the MLP reads (``curation.classifiers.INPUTS``); empty: the task's ``TASK_INPUTS``
    (text overlay: text-line features, as the embedding's 64 px latents lose small burned-in text
    and stay near 65% held out; category: the embedding)"""
    hidden: int = 64
    """hidden width of the MLP: the inputs are small (272 or 80 values), so is the model"""
    dropout: float = 0.1
    """dropout after the hidden layer, against a few hundred clips being memorised"""
    steps: int = 1500
    """full-batch AdamW steps (``training.trainer.Trainer``)"""
    lr: float = 3e-3
    """peak learning rate"""
    warmup: int = 50
    """linear warmup steps, then cosine decay to lr / 10"""
    weight_decay: float = 1e-2
    """AdamW weight decay"""
    heldout_fraction: float = 0.2
    """share of each class held out for the reported accuracy"""
    seed: int = 0
    """split and initialisation seed: the same arguments give the same weights"""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"--task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if not self.data:
            raise ValueError(
                "--data: pass at least one folder of labelled clips (worldfm simulate raw --labelled-clips)"
            )
        for folder in self.data:
            if not (Path(folder) / "labels.json").is_file():
                raise ValueError(
                    f"--data {folder} has no labels.json; make labelled clips with "
                    f"`worldfm simulate raw --labelled-clips --episodes 480 --out {folder}`"
                )
        if not 0.0 < self.heldout_fraction < 1.0:
            raise ValueError(f"--heldout-fraction must be in (0, 1), got {self.heldout_fraction}")
        if self.steps < 1 or self.hidden < 1:
            raise ValueError(f"--steps and --hidden must be >= 1, got {self.steps}, {self.hidden}")
        self.inputs = tuple(self.inputs) or TASK_INPUTS[self.task]
        if self.inputs != tuple(i for i in INPUTS if i in self.inputs):
            raise ValueError(f"--inputs must be a non-empty ordered subset of {INPUTS}, got {self.inputs}")
        try:
            embedder_name(self.embedder)
        except EmbedderError as e:
            raise ValueError(f"--embedder: {e}") from None


def clip_labels(folder: str | Path, task: str) -> tuple[list[Path], list[str]]:
    """The clip files of a labelled-clips folder and each clip's class name for ``task``."""
    folder = Path(folder)
    labels = json.loads((folder / "labels.json").read_text())
    if "clips" not in labels:
        raise ValueError(
            f"{folder}/labels.json lists raw videos, not labelled clips; write them with "
            "`worldfm simulate raw --labelled-clips`"
        )
    names = sorted(labels["clips"])
    if task == "text-overlay":
        classes = ["text" if labels["clips"][n]["text"] else "clean" for n in names]
    else:
        classes = [labels["clips"][n]["category"] for n in names]
    return [folder / n for n in names], classes


def embed_clips(paths: list[Path], embedder: str) -> np.ndarray:
    """(N, D) embeddings of the clips as the curate ``embed`` stage computes them, cached per folder.

    The cache (``<folder>/.embeddings-<model>-<hash>.npz``) is keyed by the folder's labels.json
    and the clip names, so regenerated clips are embedded again.
    """
    model = None

    def embed(folder: Path, files: list[Path]) -> list[np.ndarray]:
        nonlocal model
        model = model or make_embedder(embedder)
        vectors = []
        for i, f in enumerate(files):
            frames, _, _ = sample_frames(f, model.num_frames)
            vectors.append(model.embed(frames))
            if (i + 1) % 100 == 0:
                logger.info("embedded %d of %d clips in %s", i + 1, len(files), folder)
        return vectors

    return _cached_per_folder(paths, f".embeddings-{embedder_name(embedder).replace(':', '_')}", b"", embed)


def text_features_of(paths: list[Path], config: TextFeatureConfig) -> np.ndarray:
    """(N, config.dim) text features of the clips as the curate ``text_overlay`` stage computes them,
    cached per folder like ``embed_clips`` (keyed by labels.json, the clip names and ``config``)."""

    def features(folder: Path, files: list[Path]) -> list[np.ndarray]:
        return [text_features(sample_frames(f, config.num_frames)[0], config) for f in files]

    salt = json.dumps({**config.to_dict(), "dim": config.dim}, sort_keys=True).encode()
    return _cached_per_folder(paths, ".text-features", salt, features)


def _cached_per_folder(
    paths: list[Path],
    prefix: str,
    salt: bytes,
    compute: Callable[[Path, list[Path]], list[np.ndarray]],
) -> np.ndarray:
    """``compute(folder, files)``'s vectors of each folder's clips, stacked (N, D) folder by folder.

    Each folder's are cached in ``<folder>/<prefix>-<hash>.npz``, the hash of its labels.json, the
    clip names and ``salt`` (what else the vectors depend on).
    """
    out: list[np.ndarray] = []
    by_folder: dict[Path, list[Path]] = {}
    for p in paths:
        by_folder.setdefault(p.parent, []).append(p)
    for folder, files in by_folder.items():
        key = hashlib.sha1(
            (folder / "labels.json").read_bytes() + "\n".join(f.name for f in files).encode() + salt
        )
        cache = folder / f"{prefix}-{key.hexdigest()[:12]}.npz"
        if cache.exists():
            out.append(np.load(cache)["x"])
            continue
        x = np.stack(compute(folder, files)).astype(np.float32)
        buffer = io.BytesIO()
        np.savez(buffer, x=x)
        atomic_write_bytes(cache, buffer.getvalue())
        out.append(x)
    return np.concatenate(out)


def heldout_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split: ``round(fraction * n_k)`` (at least 1) of each class's ``n_k`` clips held out.

    Returns train and held-out indices, each sorted.
    """
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for k in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == k))
        held.extend(members[: max(1, round(fraction * len(members)))].tolist())
    mask = np.zeros(len(y), dtype=bool)
    mask[held] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def accuracy_table(pred: np.ndarray, y: np.ndarray, classes: tuple[str, ...]) -> dict:
    """Accuracy, per-class accuracy (recall) and the confusion matrix (rows: truth)."""
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    np.add.at(confusion, (y, pred), 1)
    per_class = {
        c: round(float(confusion[k, k] / confusion[k].sum()), 4) if confusion[k].sum() else None
        for k, c in enumerate(classes)
    }
    return {
        "accuracy": round(float((pred == y).mean()), 4) if len(y) else 0.0,
        "per_class": per_class,
        "confusion": confusion.tolist(),
    }


def train_classifier(args: ClassifierTrainArgs, *, command: str = "") -> dict:
    """Train, evaluate on the held-out clips, save the checkpoint and its card; returns the result."""
    start = time.perf_counter()
    classes = TASKS[args.task]

    # -- data
    paths: list[Path] = []
    names: list[str] = []
    for folder in args.data:
        p, c = clip_labels(folder, args.task)
        paths += p
        names += c
    y = np.array([classes.index(c) for c in names])
    text_config = TextFeatureConfig()
    parts = []
    if "embedding" in args.inputs:
        parts.append(embed_clips(paths, args.embedder))
    if "text_features" in args.inputs:
        parts.append(text_features_of(paths, text_config))
    x = np.concatenate(parts, axis=1)
    train_idx, held_idx = heldout_split(y, args.heldout_fraction, args.seed)
    x_train, y_train = torch.from_numpy(x[train_idx]), torch.from_numpy(y[train_idx])
    x_held, y_held = torch.from_numpy(x[held_idx]), y[held_idx]
    logger.info("%d clips: %d train, %d held out; %s", len(y), len(train_idx), len(held_idx), args.task)

    # -- model (seeded here: building the embedder above draws from torch's generator
    # unless its embeddings were cached, and the weights must not depend on that)
    torch.manual_seed(args.seed)
    model = ClipMLP(ClipMLPConfig(args.task, x.shape[1], args.hidden, args.dropout, inputs=args.inputs))
    model.set_standardisation(x_train)

    # -- the training loop: every step sees the whole training split
    log_every = min(100, args.steps)
    run = head_run(
        args, batch_size=len(train_idx), eval_every=args.steps, log_every=log_every, out_dir=args.out
    )
    extra = classifier_extra(
        model.config,
        embedding=embedder_name(args.embedder),
        text_features=text_config.to_dict() if "text_features" in args.inputs else None,
        embedder=args.embedder,
    )

    def loss_fn(model: torch.nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        return F.cross_entropy(model(batch["x"]), batch["y"]), {}

    trainer = Trainer(
        model,
        run,
        loss_fn=loss_fn,
        get_batch=lambda step, micro: {"x": x_train, "y": y_train},
        checkpoint_extra=extra,
    )
    metrics = trainer.fit(resume=False)

    # -- evaluate against the majority class of the training split
    model = model.cpu().eval()
    with torch.inference_mode():
        pred_held = model(x_held).argmax(dim=-1).numpy()
        pred_train = model(x_train).argmax(dim=-1).numpy()
    majority = int(np.bincount(y[train_idx], minlength=len(classes)).argmax())
    heldout = accuracy_table(pred_held, y_held, classes)
    result = {
        "task": args.task,
        "clips": len(y),
        "train_clips": len(train_idx),
        "heldout_clips": len(held_idx),
        "heldout_accuracy": heldout["accuracy"],
        "heldout_per_class": heldout["per_class"],
        "heldout_confusion": heldout["confusion"],
        "train_accuracy": round(float((pred_train == y[train_idx]).mean()), 4),
        "majority_class": classes[majority],
        "majority_heldout_accuracy": round(float((y_held == majority).mean()), 4),
        "final_loss": round(float(metrics["losses/total"]), 5),
        "wall_time_s": round(time.perf_counter() - start, 2),
    }

    # -- the checkpoint's record of the run (the Trainer saved the weights) and the card
    hub.update_section(args.out, "training", {"args": asdict(args), "command": command, "result": result})
    atomic_write_bytes(Path(args.out) / "MODEL_CARD.md", classifier_card(args, result, command).encode())
    return result


def _data_command(folder: str) -> str:
    """The command that wrote a labelled-clips folder, from its labels.json parameters."""
    labels = json.loads((Path(folder) / "labels.json").read_text())
    p = labels["params"]
    return (
        f"worldfm simulate raw --labelled-clips --episodes {len(labels['clips'])} --seed {p['seed']} "
        f"--size {p['size']} --frames {p['frames']} --out {folder}"
    )


def classifier_card(args: ClassifierTrainArgs, result: dict, command: str) -> str:
    """Markdown model card: what it classifies, how it was trained, what it scores held out."""
    classes = TASKS[args.task]
    per_class = ", ".join(f"{c} {v:.1%}" for c, v in result["heldout_per_class"].items() if v is not None)
    rows = "\n".join(
        f"| {c} | " + " | ".join(str(v) for v in row) + " |"
        for c, row in zip(classes, result["heldout_confusion"], strict=True)
    )
    what = {
        "text-overlay": "whether a clip has burned-in text (subtitles, words, timestamps)",
        "category": "a clip's video type: manipulation, driving, camera_motion (a scene filmed by a moving "
        "camera) or other (a still camera on a still scene)",
    }[args.task]
    make_data = "\n".join(_data_command(folder) for folder in args.data)
    reads = []
    if "embedding" in args.inputs:
        reads.append(
            f"the clip's embedding (`{embedder_name(args.embedder)}`, the curate `embed` stage's default)"
        )
    if "text_features" in args.inputs:
        reads.append(
            f"the clip's text-line features (`curation.text_features`, {TextFeatureConfig().dim} values: "
            "how strongly lines of thin, high-contrast strokes that stay at the same pixels over 6 sampled "
            "frames stand out from the rows above and below, at up to 256 px)"
        )
    return f"""# {Path(args.out).name}

A clip classifier for `worldfm curate`: {what}, from {" and ".join(reads)}. A {args.hidden}-unit
one-hidden-layer MLP over the standardised inputs (`curation.classifiers.ClipMLP`).

## Training

```
{make_data}
{command or "worldfm train classifier --task " + args.task}
```

- data: {", ".join(args.data)} (`worldfm simulate raw --labelled-clips`: single shots of Fetch,
  driving and orbit scenes, half with burned-in text), {result["clips"]} clips
- split: {result["train_clips"]} train / {result["heldout_clips"]} held out, stratified
  by class (seed {args.seed})
- {args.steps} full-batch AdamW steps, lr {args.lr:g} (warmup {args.warmup}, cosine), weight decay
  {args.weight_decay:g}, dropout {args.dropout:g}; {result["wall_time_s"]:.0f} s on one CPU
  (clip features included)

## Held-out accuracy

| model | held-out accuracy |
|---|---|
| this MLP | {result["heldout_accuracy"]:.1%} |
| majority class ({result["majority_class"]}) | {result["majority_heldout_accuracy"]:.1%} |

Per class: {per_class}. Train accuracy {result["train_accuracy"]:.1%}.

Confusion (rows: truth, columns: predicted, in order {", ".join(classes)}):

| truth | {" | ".join(classes)} |
|---|{"---|" * len(classes)}
{rows}

`python benchmarks/clip_classifiers.py` scores it on freshly generated clips of another seed.
"""
