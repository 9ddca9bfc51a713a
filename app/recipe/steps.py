"""A recipe's building blocks: a ``Step``, what each command leaves behind when finished, the copy
of a run into the shipped folder, and the tiny (``--smoke``) and reseeded forms of a command.
"""

from __future__ import annotations

import json
import shlex
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.errors import UserError
from worldmodel.info import world_model_info


@dataclass(frozen=True)
class Step:
    """One step of a recipe: a ``worldfm`` command, or a Python function for copy / ship steps."""

    name: str
    """unique, used by ``--only`` and ``--from-step``"""
    group: str
    """data, tokenizers, curation, world-models or posttrain (``--only`` takes groups too)"""
    argv: tuple[str, ...] = ()
    """the ``worldfm`` arguments (empty for a Python step)"""
    func: Callable[[], None] | None = None
    """a Python step's body"""
    describe: str = ""
    """a Python step's one-line description, for ``--list``"""
    done: Callable[[], bool] = field(default=lambda: False, compare=False)
    """whether the step's output is complete (then a rerun skips it)"""
    output: Path | None = None
    """what the step writes"""

    @property
    def command(self) -> str:
        return "worldfm " + shlex.join(self.argv) if self.argv else self.describe


# --- done checks: each reads only what a step leaves behind ---------------------------------


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def trained(out: Path, steps: int) -> bool:
    """A trainer's run is finished: its checkpoint is at the last step."""
    training = _read_json(out / "config.json").get("training") or {}
    return (out / "model.safetensors").exists() and int(training.get("step", -1)) >= steps


def newer(path: Path, than: Path) -> bool:
    """``path`` was written after ``than`` (a card or head after the weights it describes)."""
    return path.exists() and than.exists() and path.stat().st_mtime_ns >= than.stat().st_mtime_ns


def dagger_finished(out: Path, rounds: int) -> bool:
    """``worldfm train dagger`` has written the row of each round 0..``rounds`` into ``rounds.json``."""
    done = {row.get("round") for row in _read_json(out / "rounds.json").get("rounds", [])}
    return set(range(rounds + 1)) <= done


def _labelled(out: Path, count: int) -> bool:
    """``simulate raw`` rewrites labels.json after each video: done when all are listed."""
    labels = _read_json(out / "labels.json")
    return len(labels.get("videos") or labels.get("clips") or {}) >= count


def flag_value(argv: Sequence[str], name: str) -> str:
    return argv[list(argv).index(name) + 1]


def done_check(argv: Sequence[str]) -> tuple[Callable[[], bool], Path]:
    """What a ``worldfm`` command leaves behind when it has finished, and where."""
    command = tuple(argv[:2])
    if command[0] == "simulate":
        out = Path(flag_value(argv, "--out"))
        if command[1] == "raw":
            count = int(flag_value(argv, "--episodes"))
            return (lambda: _labelled(out, count)), out
        return (out / "manifest.json").exists, out
    if command[0] == "curate":
        out = Path(flag_value(argv, "--out"))
        return (out / "manifest.json").exists, out
    if command == ("train", "classifier"):
        out = Path(flag_value(argv, "--out"))
        return (out / "MODEL_CARD.md").exists, out
    if command == ("train", "dagger"):
        out, rounds = Path(flag_value(argv, "--out")), int(flag_value(argv, "--rounds"))
        return (lambda: dagger_finished(out, rounds)), out / "rounds.json"
    if command == ("train", "reward"):
        wfm = Path(flag_value(argv, "--wfm"))
        return (lambda: newer(wfm / "reward_head" / "config.json", wfm / "model.safetensors")), wfm
    if command[0] == "train":
        out, steps = Path(flag_value(argv, "--out")), int(flag_value(argv, "--steps"))
        return (lambda: trained(out, steps)), out
    if command[0] == "eval" and "--card" in argv:
        ckpt = Path(flag_value(argv, "--ckpt"))
        card = ckpt / "MODEL_CARD.md"
        return (lambda: newer(card, ckpt / "model.safetensors")), card
    raise ValueError(f"no output known for `worldfm {shlex.join(argv)}`")


# --- shipping: a run's checkpoint copied into the shipped folder -----------------------------

SHIPPED_FILES = ("model.safetensors", "logs/metrics.csv", "text_tokenizer.json", "config.json")
"""copied in this order: config.json last, so a half-copied checkpoint never looks shipped"""


def ship(
    run: Path, dest: Path, *, tokenizer: str | None = None, half: bool = False, env_id: str | None = None
) -> None:
    """Copy ``run``'s checkpoint and training curve into ``dest`` (each file atomically).

    ``tokenizer``: the shipped tokenizer folder the world model names (``../<tokenizer>``);
    ``half``: store the weights as float16 (``hub.store_half``);
    ``env_id``: the Gymnasium id it registers, where the folder name would give a taken one.
    """
    from worldmodel import hub
    from worldmodel.atomic import atomic_output

    for name in SHIPPED_FILES:
        src = run / name
        if not src.exists():
            if name == "text_tokenizer.json":
                continue
            raise UserError(f"{src} is missing: train {run} first")
        with atomic_output(dest / name) as tmp:
            shutil.copyfile(src, tmp)
    if tokenizer is not None:
        hub.update_info(dest, tokenizer=f"../{tokenizer}")
    if env_id is not None:
        hub.update_info(dest, env_id=env_id)
    if half:
        hub.store_half(dest)


def _shipped(run: Path, dest: Path, *, tokenizer: str | None, half: bool, env_id: str | None) -> bool:
    """``dest`` holds ``run``'s current weights (same training record), relinked, given its env id
    and halved."""
    shipped, trained = _read_json(dest / "config.json"), _read_json(run / "config.json")
    info = world_model_info(shipped)
    return (
        (dest / "model.safetensors").exists()
        and bool(trained.get("training"))
        and shipped.get("training") == trained.get("training")
        and (tokenizer is None or (info is not None and info.tokenizer == f"../{tokenizer}"))
        and (env_id is None or (info is not None and info.env_id == env_id))
        and (not half or shipped.get("storage_dtype") == "float16")
    )


def ship_step(
    name: str,
    group: str,
    run: Path,
    dest: Path,
    *,
    tokenizer: str | None = None,
    half: bool = False,
    env_id: str | None = None,
) -> Step:
    files = f"{{{','.join(n for n in SHIPPED_FILES)}}}"
    describe = (
        f"copy {run}/{files} -> {dest}/"
        + (f"; hub.update_section(world_model.tokenizer='../{tokenizer}')" if tokenizer else "")
        + (f"; hub.update_section(world_model.env_id='{env_id}')" if env_id else "")
        + ("; hub.store_half" if half else "")
    )
    return Step(
        name,
        group,
        func=lambda: ship(run, dest, tokenizer=tokenizer, half=half, env_id=env_id),
        describe=describe,
        done=lambda: _shipped(run, dest, tokenizer=tokenizer, half=half, env_id=env_id),
        output=dest,
    )


# --- smoke: the same commands, tiny ---------------------------------------------------------

TRAINER_SMOKE = {
    "--steps": "2",
    "--batch-size": "2",
    "--warmup": "1",
    "--eval-every": "2",
    "--save-every": "2",
    "--log-every": "1",
}
# Per command, flag -> value (or old value -> new value); a flag the command lacks is added.
SMOKE: dict[tuple[str, ...], dict[str, str | Callable[[str], str]]] = {
    ("simulate",): {"--episodes": "4", "--size": "32", "--frames": "10"},
    ("train", "tokenizer"): {
        **TRAINER_SMOKE,
        "--size": "32",
        "--config": lambda c: c.replace("-small", "-tiny"),
    },
    ("train", "diffusion"): {**TRAINER_SMOKE, "--size": "32", "--dit": "DiT-tiny"},
    ("train", "posttrain"): {**TRAINER_SMOKE, "--size": "32"},
    ("train", "ar"): {**TRAINER_SMOKE, "--size": "32", "--gpt": "GPT-tiny"},
    ("train", "reward"): {"--steps": "2", "--imagined-horizon": "2", "--imagined-stride": "2"},
    ("train", "classifier"): {"--steps": "2"},
    ("eval", "tokenizer"): {"--clips": "2"},
    ("eval", "wfm"): {"--clips": "2", "--horizon": "2"},
}


def shrink(argv: Sequence[str], overrides: dict[str, str] | None = None) -> tuple[str, ...]:
    """``argv`` with the ``SMOKE`` sizes of its command, then ``overrides`` (the step's own)."""
    values: dict[str, str | Callable[[str], str]] = {}
    for prefix, flags in SMOKE.items():
        if tuple(argv[: len(prefix)]) == prefix:
            values.update(flags)
    values.update(overrides or {})
    out = list(argv)
    for flag, value in values.items():
        if flag in out:
            i = out.index(flag) + 1
            out[i] = value(out[i]) if callable(value) else value
        elif not callable(value):
            out += [flag, value]
    return tuple(out)


def reseed(argv: Sequence[str], seed: int | None) -> tuple[str, ...]:
    """``argv`` training with ``--seed seed``; other commands (simulate, curate, eval) unchanged.

    The data keep their seeds, so two recipe runs with different ``--seed`` s differ only in
    their trainings' random streams: the run-to-run spread of the whole chain.
    """
    if seed is None or tuple(argv[:1]) != ("train",):
        return tuple(argv)
    out = list(argv)
    if "--seed" in out:
        out[out.index("--seed") + 1] = str(seed)
    else:
        out += ["--seed", str(seed)]
    return tuple(out)


def recorded_seed_mismatch(step: Step) -> str | None:
    """A trainer's ``--out`` already holding a run with another seed: resuming would mix chains."""
    if tuple(step.argv[:1]) != ("train",) or "--out" not in step.argv or step.output is None:
        return None
    training = _read_json(step.output / "config.json").get("training") or {}
    recorded = (training.get("config") or {}).get("seed")
    wanted = int(flag_value(step.argv, "--seed")) if "--seed" in step.argv else 0
    if recorded is None or int(recorded) == wanted:
        return None
    return f"{step.output} holds a run trained with --seed {recorded}, this recipe asks for --seed {wanted}"
