"""``worldfm recipe``: the whole chain that regenerates the shipped checkpoints, in smoke form."""

import json
import shlex
from pathlib import Path

import pytest

from app.cli import DEFAULT_CHECKPOINTS, UserError, main
from app.recipe import SMOKE, fetch64_steps, select_steps
from envs.registration import world_model_env_id
from worldmodel.info import WorldModelInfo

SHIPPED = (
    "tokenizer-ci8x8-fetch64",
    "tokenizer-cv4x8x8-fetch64",
    "tokenizer-dv4x8x8-fetch64",
    "tokenizer-di8x8-fetch64",
    "tokenizer-ci8x8-mixed64",
    "text-overlay-mlp",
    "category-mlp",
    "fetchpush-wm-dit",
    "fetch-t2w-dit",
    "fetchpush-wm-ar",
    "orbit-camera-dit",
    "driving-wm-dit",
)


def test_recipe_smoke_runs_every_step_ships_every_checkpoint_and_a_rerun_skips_all(tmp_path, capsys):
    steps = [s.name for s in fetch64_steps(tmp_path, tmp_path / "checkpoints", smoke=True)]

    assert main(["recipe", "fetch64", "--out", str(tmp_path), "--smoke"]) == 0
    out = capsys.readouterr().out
    for name in steps:
        assert f"] {name}" in out and f"| {name} " in out
    assert out.count(" done in ") == len(steps)
    for name in SHIPPED:
        files = {p.name for p in (tmp_path / "checkpoints" / name).iterdir()}
        assert {"config.json", "model.safetensors", "MODEL_CARD.md"} <= files, name
    assert (tmp_path / "checkpoints" / "fetchpush-wm-dit" / "reward_head" / "config.json").exists()
    assert (tmp_path / "data" / "curated" / "manifest.json").exists()
    # Copied into checkpoints/, each world model registers the env id the repo's own one does.
    for name in SHIPPED:
        repo_world = json.loads((DEFAULT_CHECKPOINTS / name / "config.json").read_text()).get("world_model")
        if repo_world is not None:
            world = json.loads((tmp_path / "checkpoints" / name / "config.json").read_text())["world_model"]
            ours, repo = WorldModelInfo.from_dict(world), WorldModelInfo.from_dict(repo_world)
            assert world_model_env_id(Path(name), ours) == world_model_env_id(Path(name), repo), name

    assert main(["recipe", "fetch64", "--out", str(tmp_path), "--smoke"]) == 0
    out = capsys.readouterr().out
    assert out.count("skipped: finished") == len(steps)
    assert "ran 0 step(s)" in out


def test_recipe_list_prints_every_command_and_runs_nothing(tmp_path, capsys):
    assert main(["recipe", "fetch64", "--out", str(tmp_path), "--list"]) == 0
    out = capsys.readouterr().out
    for step in fetch64_steps(tmp_path, tmp_path / "checkpoints"):
        assert step.name in out and step.command in out
    assert "worldfm train tokenizer --config CI8x8-small" in out
    assert not any(tmp_path.iterdir())


def test_recipe_failing_step_stops_with_one_line_naming_it_and_the_resume_command(tmp_path, capsys):
    # The tokenizer step without its data: it fails, and nothing after it runs.
    args = ["recipe", "fetch64", "--out", str(tmp_path), "--smoke", "--only", "tokenizers"]
    assert main(args) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("worldfm recipe: step tokenizer-ci8x8-fetch64 failed:")
    assert "--from-step tokenizer-ci8x8-fetch64" in last and "--only tokenizers" in last
    assert not (tmp_path / "runs" / "ci8x8-fetch64-ft").exists()


def _parse(argv: tuple[str, ...]) -> tuple[list[str], dict[str, list[str]]]:
    """``argv`` as its leading words and each flag's values."""
    words, flags, flag = [], {}, None
    for token in argv:
        if token.startswith("--"):
            flag = token
            flags[flag] = []
        elif flag is None:
            words.append(token)
        else:
            flags[flag].append(token)
    return words, flags


def test_smoke_steps_are_the_full_commands_with_only_their_sizes_shrunk(tmp_path):
    full = fetch64_steps(tmp_path, tmp_path / "ship")
    smoke = fetch64_steps(tmp_path, tmp_path / "ship", smoke=True)
    assert [s.name for s in full] == [s.name for s in smoke]
    # The SMOKE sizes, and the steps' own: seeds with held-out clips, short raw footage, lax filters.
    allowed = {flag for flags in SMOKE.values() for flag in flags}
    allowed |= {"--seed", "--min-seconds", "--max-seconds", "--long-fraction", "--min-clip-seconds"}
    allowed |= {"--text-threshold"}
    for f, s in zip(full, smoke, strict=True):
        if f.func is not None:  # a copy step: the same at any size
            assert f.command == s.command
            continue
        (words_f, flags_f), (words_s, flags_s) = _parse(f.argv), _parse(s.argv)
        assert words_f == words_s, f.name
        changed = {k for k in flags_f.keys() | flags_s.keys() if flags_f.get(k) != flags_s.get(k)}
        assert changed <= allowed, f"{f.name}: {shlex.join(f.argv)} vs {shlex.join(s.argv)}"


def test_only_takes_steps_and_groups_and_from_step_starts_at_a_step(tmp_path):
    steps = fetch64_steps(tmp_path, tmp_path / "ship")
    picked = select_steps(steps, only="simulate-fetch64,tokenizers")
    assert picked[0].name == "simulate-fetch64"
    assert {s.group for s in picked[1:]} == {"tokenizers"}
    assert select_steps(steps, from_step="curate-raw")[0].name == "curate-raw"
    with pytest.raises(UserError, match="no such step or group"):
        select_steps(steps, only="tokenisers")


def test_recipe_names_the_repo_checkpoints_embedder_as_the_shipped_default():
    steps = {s.name: s for s in fetch64_steps(Path("."), DEFAULT_CHECKPOINTS)}
    argv = steps["classifier-text-overlay"].argv
    assert argv[argv.index("--embedder") + 1] == "tokenizer"


def test_recipe_smoke_refuses_to_ship_into_the_repo_checkpoints(tmp_path, capsys):
    args = ["recipe", "fetch64", "--out", str(tmp_path), "--smoke", "--ship-to", str(DEFAULT_CHECKPOINTS)]
    assert main(args) == 2
    assert "--smoke would replace the shipped checkpoints" in capsys.readouterr().err


def test_recipe_seed_reseeds_every_training_and_keeps_the_data_seeds(tmp_path):
    shipped = fetch64_steps(tmp_path, tmp_path / "ship")
    reseeded = fetch64_steps(tmp_path, tmp_path / "ship", seed=7)
    trainings = 0
    for f, r in zip(shipped, reseeded, strict=True):
        (_, flags_f), (words_r, flags_r) = _parse(f.argv), _parse(r.argv)
        if words_r[:1] == ["train"]:
            trainings += 1
            assert flags_r["--seed"] == ["7"], r.name
            assert {k: v for k, v in flags_r.items() if k != "--seed"} == {
                k: v for k, v in flags_f.items() if k != "--seed"
            }, r.name
        else:  # simulate, curate, eval, copy: the same data and the same evaluation
            assert f.command == r.command, r.name
    assert trainings >= 15


def test_recipe_seed_refuses_an_out_holding_runs_of_another_seed(tmp_path, capsys):
    run = tmp_path / "runs" / "ci8x8-fetch64"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"training": {"step": 10, "config": {"seed": 0}}}))
    args = ["recipe", "fetch64", "--out", str(tmp_path), "--only", "tokenizer-ci8x8-fetch64"]
    assert main([*args, "--seed", "1"]) == 2
    error = capsys.readouterr().err
    assert "trained with --seed 0, this recipe asks for --seed 1: give this --seed its own --out" in error
    # the seed that run used (0, the shipped one) is accepted: --dry-run shows it would resume
    assert main([*args, "--seed", "0", "--dry-run"]) == 0
    assert main([*args, "--dry-run"]) == 0
    assert "would run" in capsys.readouterr().out
