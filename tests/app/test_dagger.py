"""``worldfm train dagger``: one round of planner episodes, fine-tuning, head and evaluation on a tiny
Fetch world, and its resume."""

import json
import shutil
from pathlib import Path

import pytest

import training.train_wfm
from app.cli import main
from app.cli.dagger import DaggerArgs, pin_sampler_steps
from app.recipe.steps import done_check
from envs.learned_reward import load_reward_head
from envs.planner_config import PlannerConfig, load_planner_config
from training.data import ClipDataset
from training.train_wfm import WFMTrainArgs
from worldmodel import hub
from worldmodel.heads import REWARD_HEAD_DIR
from worldmodel.world import WorldModel

TINY_PLANNER = ["--horizon", "2", "--population", "4", "--elites", "2", "--iterations", "1"]
TINY_PLANNER += ["--sampler-steps", "1", "--prior-samples", "1"]
TINY = ["--episodes-per-round", "2", "--steps", "3", "--eval-episodes", "1", "--finetune-steps", "2"]
TINY += ["--batch-size", "2", "--head-steps", "2", "--head-imagined-horizon", "0", *TINY_PLANNER]


def dagger(world: Path, out: Path, *extra: str) -> list[str]:
    data = world.parent / "shards"  # what tests.tiny_worlds trained the world on
    return ["train", "dagger", "--wfm", str(world), "--data", str(data), "--out", str(out), *TINY, *extra]


@pytest.fixture(scope="module")
def one_round(fetch_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dagger") / "run"
    assert main([*dagger(fetch_world, out), "--rounds", "1"]) == 0
    return out


def test_dagger_round_records_planner_shards_the_trainers_read(one_round: Path) -> None:
    data = one_round / "round-1" / "data"
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["stats"]["policy_counts"] == {"planner": 2}
    clips = ClipDataset(data, frames=3, size=32, arrays=("actions", "rewards", "success", "progress"))
    # 2 context frames, then one per planned action
    assert [len(c.frames) for c in clips.clips] == [5, 5]


def test_dagger_round_fine_tunes_a_checkpoint_that_loads_with_its_head_and_planner(
    fetch_world: Path, one_round: Path
) -> None:
    model = one_round / "round-1" / "model"
    config = hub.read_config(model)
    assert config["training"]["step"] == 2
    assert config["world_model"]["init_from"]["path"] == str(fetch_world)
    # Fine-tuned on the start model's data and the round's episodes.
    assert config["world_model"]["data"] == [
        str(fetch_world.parent / "shards"),
        str(one_round / "round-1" / "data"),
    ]
    world = WorldModel.from_pretrained(model)
    head = load_reward_head(model, world)  # trained on this model's latents, else refused
    assert head.config.progress and head.config.value  # the start head's settings
    assert load_planner_config(model).population == 4


def test_dagger_writes_a_row_per_round_with_success_beside_the_baselines(one_round: Path) -> None:
    rows = json.loads((one_round / "rounds.json").read_text())["rounds"]
    assert [r["round"] for r in rows] == [0, 1]
    assert rows[1]["planner_episodes"] == 2 and rows[1]["model"] == str(one_round / "round-1" / "model")
    for row in rows:
        assert 0 <= row["success_rate"] <= 1 and row["seconds_per_action"] > 0
        assert set(row["baselines"]) == {"random", "expert", "prior"}
    assert "eval/latent_mse" in rows[1]["wfm"] and "eval/success_accuracy" in rows[1]["head"]


def test_dagger_rerun_skips_finished_rounds_and_is_a_recipe_step_that_is_done(
    fetch_world: Path, one_round: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (one_round / "rounds.json").read_text()

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished round trained again")

    monkeypatch.setattr("training.train_wfm.train_wfm", no_training)
    monkeypatch.setattr("training.train_reward.train_reward", no_training)
    assert main([*dagger(fetch_world, one_round), "--rounds", "1"]) == 0
    assert "round 1: finished before" in capsys.readouterr().out
    assert (one_round / "rounds.json").read_text() == before
    done, output = done_check(dagger(fetch_world, one_round, "--rounds", "1"))
    assert done() and output == one_round / "rounds.json"
    assert not done_check(dagger(fetch_world, one_round, "--rounds", "2"))[0]()


def test_dagger_continues_an_interrupted_round_then_a_new_one_from_its_model(
    fetch_world: Path, one_round: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    shutil.copytree(one_round, out)
    log = json.loads((out / "rounds.json").read_text())
    log["rounds"] = log["rounds"][:1]  # stopped after the fine-tune, before the head
    (out / "rounds.json").write_text(json.dumps(log))
    shutil.rmtree(out / "round-1" / "model" / REWARD_HEAD_DIR)
    shards = sorted((out / "round-1" / "data").rglob("*.tar"))
    stamps = [p.stat().st_mtime_ns for p in shards]

    fine_tunes: list[str] = []
    train_wfm = training.train_wfm.train_wfm

    def recording(run: WFMTrainArgs) -> dict[str, float]:
        fine_tunes.append(Path(run.out).parent.name)
        return train_wfm(run)

    monkeypatch.setattr("training.train_wfm.train_wfm", recording)
    # --rounds may grow: round 1 goes on from its head, round 2 plans with round 1's model.
    assert main([*dagger(fetch_world, out), "--rounds", "2"]) == 0
    assert fine_tunes == ["round-2"]  # round 1's finished fine-tune is not redone
    assert [p.stat().st_mtime_ns for p in shards] == stamps  # nor its recorded episodes
    load_reward_head(out / "round-1" / "model")
    assert [r["round"] for r in json.loads((out / "rounds.json").read_text())["rounds"]] == [0, 1, 2]
    info = hub.read_config(out / "round-2" / "model")["world_model"]
    assert info["init_from"]["path"] == str(out / "round-1" / "model")
    assert info["data"][1:] == [str(out / "round-1" / "data"), str(out / "round-2" / "data")]
    load_reward_head(out / "round-2" / "model", WorldModel.from_pretrained(out / "round-2" / "model"))


def test_dagger_refuses_to_continue_a_run_with_other_settings(
    fetch_world: Path, one_round: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*dagger(fetch_world, one_round), "--rounds", "1", "--lr", "1e-3"]) == 2
    err = capsys.readouterr().err
    assert "holds a DAgger run with other settings (lr)" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [("--rounds", "0", "rounds must be >= 1"), ("--ema", "1", "ema_decay must be in [0, 1)")],
)
def test_dagger_bad_settings_are_one_line_errors(
    fetch_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, message: str
) -> None:
    assert main([*dagger(fetch_world, tmp_path / "run"), flag, value]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_dagger_plans_every_round_with_the_start_checkpoints_sampler_steps(fetch_world: Path) -> None:
    ckpt = fetch_world.parent / "with-sampler-default"
    shutil.copytree(fetch_world, ckpt, ignore=shutil.ignore_patterns(REWARD_HEAD_DIR))
    hub.update_info(ckpt, sampler_steps=3)
    args = DaggerArgs(wfm=str(ckpt), data=["shards"])
    assert pin_sampler_steps(args).planner.sampler_steps == 3
    given = DaggerArgs(wfm=str(ckpt), data=["shards"], planner=PlannerConfig(sampler_steps=2))
    assert pin_sampler_steps(given).planner.sampler_steps == 2
