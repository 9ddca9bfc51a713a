"""``train_ar``: a tiny GPT world model on a tiny discrete tokenizer, then ``WorldModel`` drives it."""

import dataclasses
import json

import numpy as np
import pytest

from app.cli import main
from tests.pushed_square import pushed_square_clip, write_square_shards
from tests.seeding import assert_seed_decides_weights
from tests.tiny_worlds import tiny_run_args
from training.train_ar import ARTrainArgs, train_ar
from training.trainer import TrainConfig
from worldmodel import hub
from worldmodel.tokenizer import CausalVideoTokenizer, get_config
from worldmodel.world import WorldModel

TINY = {"gpt": "GPT-tiny", "temperature": 1.0}
TRAIN = TrainConfig(steps=3, batch_size=2, warmup_steps=1, eval_every=3, save_every=3, log_every=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("ar")
    shards = root / "shards"
    write_square_shards(shards, caption="a white square pushed around")
    tok = root / "tok"
    tokenizer = ["train", "tokenizer", "--config", "DI8x8-tiny", "--data", str(shards), "--out", str(tok)]
    assert main([*tokenizer, *tiny_run_args()]) == 0
    # GPT-tiny at temperature 1: the dataclass defaults are the CLI's (GPT-XS, 0.5), too big for a test.
    base = {"tokenizer": str(tok), "data": [str(shards)], "size": 32, "eval_clips": 4, **TINY}
    robot = root / "robot"
    metrics = train_ar(
        ARTrainArgs(**base, out=str(robot), actions=True, task="robot", train=dataclasses.replace(TRAIN))
    )
    text = root / "text"
    train_ar(ARTrainArgs(**base, out=str(text), text=True, train=dataclasses.replace(TRAIN)))
    return {"root": root, "shards": shards, "tok": tok, "robot": robot, "text": text, "metrics": metrics}


def test_ar_world_model_predicts_one_frame_per_action(trained: dict) -> None:
    world = WorldModel.from_pretrained(trained["robot"])
    assert world.context_frames == 2 and world.action_dim == 2
    frames, actions = pushed_square_clip(99)
    out = world.predict(frames[:2], actions=actions[1:3], horizon=2, seed=0)
    assert out.shape == (2, 32, 32, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, world.predict(frames[:2], actions=actions[1:3], horizon=2, seed=0))
    batched = world.predict(np.stack([frames[:2], frames[2:4]]), actions=actions[1:3], horizon=2, seed=0)
    assert batched.shape == (2, 2, 32, 32, 3)


def test_ar_checkpoint_has_the_identity_norm_and_reports_eval_against_copying(trained: dict) -> None:
    payload = json.loads((trained["robot"] / "config.json").read_text())
    assert payload["kind"] == "autoregressive" and payload["posttrained_for"] == "robot"
    world = payload["world_model"]
    assert (
        world["latent_mean"] == [0.0] * 6 and world["latent_std"] == [1.0] * 6 and world["sigma_data"] == 1.0
    )
    assert world["action_space"]["dim"] == 2
    metrics = trained["metrics"]
    for name in ("losses/token_nll", "eval/predicted_nll", "eval/latent_mse", "eval/copy_last_latent_mse"):
        assert np.isfinite(metrics[name]), name


def test_eval_wfm_scores_an_ar_checkpoint(trained: dict, capsys) -> None:
    args = ["eval", "wfm", "--ckpt", str(trained["robot"]), "--data", str(trained["shards"])]
    assert main([*args, "--clips", "2", "--horizon", "2", "--card"]) == 0
    assert "copy last frame" in capsys.readouterr().out
    card = (trained["robot"] / "MODEL_CARD.md").read_text()
    assert "An autoregressive world model" in card and "GPT over FSQ tokens" in card
    assert "temperature" in card and "sampler steps" not in card


def test_ar_text_model_generates_from_text_alone_and_continues_video(trained: dict) -> None:
    world = WorldModel.from_pretrained(trained["text"])
    out = world.predict(None, text="a white square", horizon=4, seed=1)
    assert out.shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(out, world.predict(None, text="a white square", horizon=4, seed=1))
    frames, _ = pushed_square_clip(3)
    assert world.predict(frames[:2], horizon=2).shape == (2, 32, 32, 3)


def test_train_ar_refuses_a_continuous_tokenizer(trained: dict) -> None:
    continuous = hub.save(CausalVideoTokenizer(get_config("CI8x8-tiny")), trained["root"] / "ci")
    args = ARTrainArgs(
        tokenizer=str(continuous), data=[str(trained["shards"])], out=str(trained["root"] / "x"), **TINY
    )
    with pytest.raises(ValueError, match="continuous tokenizer"):
        train_ar(args)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"tokenizer": ""}, "tokenizer"),
        ({"gpt": "GPT-huge"}, "unknown GPT preset"),
        ({"context_frames": 0}, "context_frames"),
        ({"top_p": 0.0}, "top_p"),
    ],
)
def test_ar_train_args_are_checked(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ARTrainArgs(**{"tokenizer": "tok", "data": ["shards"], **kw})


def test_train_ar_cli_trains_a_checkpoint_world_model_loads(trained: dict, tmp_path) -> None:
    out = tmp_path / "ar"
    args = ["train", "ar", "--tokenizer", str(trained["tok"]), "--data", str(trained["shards"])]
    args += ["--out", str(out), "--gpt", "GPT-tiny", "--actions", *tiny_run_args(steps=2)]
    assert main(args) == 0
    assert WorldModel.from_pretrained(out).action_dim == 2


def test_the_same_ar_command_and_seed_train_bit_identical_weights(trained: dict, tmp_path) -> None:
    base = {"tokenizer": str(trained["tok"]), "data": [str(trained["shards"])], "size": 32, "eval_clips": 4}
    base.update(TINY)
    train = dataclasses.replace(TRAIN, steps=2, eval_every=2, save_every=2)
    assert_seed_decides_weights(
        lambda out, seed: train_ar(
            ARTrainArgs(**base, out=str(out), actions=True, train=dataclasses.replace(train, seed=seed))
        ),
        tmp_path,
    )
