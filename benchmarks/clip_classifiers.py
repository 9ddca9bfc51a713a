"""Held-out accuracy of the shipped curation classifiers vs the majority class, on fresh clips.

    python benchmarks/clip_classifiers.py [--clips 200] [--seed 2] [--size 128] [--data data/clips-bench128]

Renders ``--clips`` labelled clips (``worldfm simulate raw --labelled-clips``) with a seed the
classifiers were not trained on (they used seed 1), builds each classifier's input as the curate
stages do (the ``embed`` stage's embedding and / or the text features, as its config says), and
prints one table: each shipped classifier against predicting its training set's majority class
for every clip.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

from curation.classifiers import DEFAULT_CHECKPOINTS, TASKS, ClipClassifier
from envs.sim.raw_clips import write_labelled_clips
from training.train_classifier import clip_labels, embed_clips, text_features_of


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--clips", type=int, default=200, help="fresh clips (200: a standard error near 1.3 points)"
    )
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--size", type=int, default=128, help="frame-shape scale, as the training clips'")
    parser.add_argument("--data", default="data/clips-bench128")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    write_labelled_clips(args.data, args.clips, seed=args.seed, size=args.size)
    print(
        f"{args.clips} fresh labelled clips (seed {args.seed}, size {args.size}); accuracy on all of them\n"
    )
    print("| classifier | clips | accuracy | majority-class baseline | per class |")
    print("|---|---|---|---|---|")
    for task, path in DEFAULT_CHECKPOINTS.items():
        model = ClipClassifier(path, task=task)
        paths, names = clip_labels(args.data, task)
        y = np.array([TASKS[task].index(n) for n in names])
        parts = [embed_clips(paths, model.payload["embedder"])] if model.reads_embedding else []
        if model.text_features is not None:
            parts.append(text_features_of(paths, model.text_features))
        x = np.concatenate(parts, axis=1)
        pred = model.probabilities(x).argmax(axis=1)
        majority = TASKS[task].index(model.payload["training"]["result"]["majority_class"])
        per_class = ", ".join(f"{c} {(pred[y == k] == k).mean():.0%}" for k, c in enumerate(TASKS[task]))
        print(
            f"| {path.name} | {len(y)} | {(pred == y).mean():.1%} | {(y == majority).mean():.1%} "
            f"({TASKS[task][majority]}) | {per_class} |"
        )


if __name__ == "__main__":
    main()
