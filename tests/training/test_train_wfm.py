import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app.cli import main
from tests.pushed_square import pushed_square_clip, write_square_shards
from tests.seeding import assert_seed_decides_weights
from tests.tiny_worlds import tiny_run_args
from training.train_wfm import window_inputs
from worldmodel.world import LatentNorm, WorldModel

# The tiny run every test trains with.
COMMON = tiny_run_args()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("wfm")
    shards = root / "shards"
    write_square_shards(shards)
    tok, wfm, robot, text, residual = (root / name for name in ("tok", "wfm", "robot", "text", "residual"))
    data = ["--data", str(shards), *COMMON]
    assert main(["train", "tokenizer", "--config", "CI8x8-tiny", "--out", str(tok), *data]) == 0
    dit = ["--tokenizer", str(tok), "--dit", "DiT-tiny", *data]
    assert main(["train", "diffusion", "--out", str(wfm), *dit]) == 0
    assert main(["train", "posttrain", "--task", "robot", "--from", str(wfm), "--out", str(robot), *dit]) == 0
    assert main(["train", "diffusion", "--text", "--out", str(text), *dit]) == 0
    assert main(["train", "posttrain", "--task", "robot", "--residual", "--out", str(residual), *dit]) == 0
    return {"shards": shards, "tok": tok, "wfm": wfm, "robot": robot, "text": text, "residual": residual}


def test_action_world_model_predicts_one_frame_per_action(trained: dict[str, Path]) -> None:
    world = WorldModel.from_pretrained(trained["robot"])
    assert world.context_frames == 2 and world.action_dim == 2
    frames, actions = pushed_square_clip(99)
    out = world.predict(frames[:2], actions=actions[1:4], horizon=3, seed=0, steps=2)
    assert out.shape == (3, 32, 32, 3) and out.dtype == np.uint8
    again = world.predict(frames[:2], actions=actions[1:4], horizon=3, seed=0, steps=2)
    np.testing.assert_array_equal(out, again)
    batched = world.predict(
        np.stack([frames[:2], frames[2:4]]), actions=actions[1:4], horizon=3, seed=0, steps=2
    )
    assert batched.shape == (2, 3, 32, 32, 3)


def test_bad_actions_are_clear_errors(trained: dict[str, Path]) -> None:
    world = WorldModel.from_pretrained(trained["robot"])
    frames, _ = pushed_square_clip(1)
    with pytest.raises(ValueError, match=r"actions must have shape \(2, 2\)"):
        world.predict(frames[:2], actions=np.zeros((2, 3)), horizon=2)
    with pytest.raises(ValueError, match="NaN"):
        world.predict(frames[:2], actions=np.full((2, 2), np.nan), horizon=2)
    with pytest.raises(ValueError, match="action-conditioned"):
        world.predict(frames[:2], horizon=2)
    with pytest.raises(ValueError, match="at least 2 context frames"):
        world.predict(frames[:1], actions=np.zeros((2, 2)), horizon=2)


def test_video2world_model_refuses_actions(trained: dict[str, Path]) -> None:
    world = WorldModel.from_pretrained(trained["wfm"])
    frames, _ = pushed_square_clip(2)
    assert world.predict(frames[:3], horizon=2, steps=2).shape == (2, 32, 32, 3)
    with pytest.raises(ValueError, match="not action-conditioned"):
        world.predict(frames[:2], actions=np.zeros((2, 2)), horizon=2)


def test_tokenizer_checkpoint_is_not_a_world_model(trained: dict[str, Path]) -> None:
    from worldmodel.hub import CheckpointError

    with pytest.raises(CheckpointError, match="needs a diffusion or autoregressive"):
        WorldModel.from_pretrained(trained["tok"])


def test_eval_wfm_reports_model_baseline_and_shuffled_actions(
    trained: dict[str, Path], tmp_path: Path, capsys
) -> None:
    video = tmp_path / "rollouts.mp4"
    args = ["eval", "wfm", "--ckpt", str(trained["robot"]), "--data", str(trained["shards"])]
    args += ["--clips", "2", "--horizon", "3", "--video-out", str(video)]
    assert main([*args, "--steps", "1", "2", "--precision", "fp32", "bf16", "--card"]) == 0
    out = capsys.readouterr().out
    assert "copy last frame" in out and "shuffled actions" in out and "latent MSE" in out
    assert "best:" in out and "2 sampler steps, bf16" in out and "bf16 costs" in out
    assert video.stat().st_size > 0
    card = (trained["robot"] / "MODEL_CARD.md").read_text()
    assert "2-d actions (one frame per action)" in card
    assert "| PSNR with shuffled actions (dB) |" in card and "--steps 1 2 --precision fp32 bf16" in card
    assert "Does it follow its conditioning?" in card and "| PSNR (dB) with the clip's input: |" in card
    assert "| actions |" in card
    assert "## Sampler steps per frame and precision" in card and "| 2 | bf16 |" in card
    # The sweep's best step count becomes the checkpoint's default for WorldModel.predict and the
    # envs; precision does not (it is chosen per machine), but bf16's measured cost is recorded.
    world = WorldModel.from_pretrained(trained["robot"])
    best = world.default_steps
    assert best in (1, 2) and f"`world_model.sampler_steps` {best}" in card
    section = json.loads((trained["robot"] / "config.json").read_text())["world_model"]
    assert "precision" not in section and isinstance(world.info.bf16_cost_db, float)
    assert f"`world_model.bf16_cost_db` {world.info.bf16_cost_db:g}" in card


def loaded_as(monkeypatch, change) -> None:  # noqa: ANN001 - change(world) edits a loaded model
    """``evaluate_wfm`` loads every checkpoint through ``change``."""
    load = WorldModel.from_pretrained.__func__

    def from_pretrained(cls, *args, **kwargs):  # noqa: ANN001, ANN202
        world = load(cls, *args, **kwargs)
        change(world)
        return world

    monkeypatch.setattr(WorldModel, "from_pretrained", classmethod(from_pretrained))


def test_eval_wfm_scores_each_input_own_another_episodes_and_none(trained: dict[str, Path], capsys) -> None:
    args = ["eval", "wfm", "--ckpt", str(trained["robot"]), "--data", str(trained["shards"])]
    assert main([*args, "--clips", "2", "--horizon", "2", "--steps", "1", "--precision", "fp32"]) == 0
    rows = {line.split("|")[1].strip(): line for line in capsys.readouterr().out.splitlines() if "|" in line}
    assert "own | another episode's | none | copy last frame" in rows["PSNR (dB) with the clip's input:"]
    own, other, none, copy = (float(x) for x in rows["actions"].strip(" |").split("|")[1:])

    from training.eval_wfm import evaluate_wfm

    result = evaluate_wfm(
        trained["robot"], [str(trained["shards"])], clips=2, horizon=2, steps=1, precision="fp32"
    )
    assert result["inputs"] == ["actions"] and result["shuffled_actions_psnr"] == result["other_actions_psnr"]
    printed = (result[key] for key in ("psnr", "other_actions_psnr", "no_actions_psnr", "copy_last_psnr"))
    assert [round(x, 2) for x in printed] == [own, other, none, copy]
    assert result["actions_gain_db"] == pytest.approx(result["psnr"] - result["no_actions_psnr"])


def test_a_model_that_ignores_its_actions_scores_the_same_three_ways(
    trained: dict[str, Path], monkeypatch
) -> None:
    from training.eval_wfm import evaluate_wfm

    def ignore_actions(world: WorldModel) -> None:
        for p in world.wfm.denoiser.backbone.action_embedder.parameters():
            p.data.zero_()  # every action and the null embed to the same zero vector

    loaded_as(monkeypatch, ignore_actions)
    # fp32: under bf16 autocast the null (a float32 parameter) and an embedded action (bf16) add to
    # the tokens in different dtypes, equal only to rounding.
    r = evaluate_wfm(
        trained["robot"], [str(trained["shards"])], clips=2, horizon=2, steps=1, precision="fp32"
    )
    assert r["psnr"] == r["other_actions_psnr"] == r["no_actions_psnr"]


def test_eval_wfm_says_why_a_model_without_dropout_has_no_none(
    trained: dict[str, Path], monkeypatch, capsys
) -> None:
    import dataclasses

    from training.eval_wfm import evaluate_wfm
    from training.model_card import following_table

    def no_dropout(world: WorldModel) -> None:
        world.wfm.config = dataclasses.replace(world.wfm.config, action_drop_prob=0.0)

    loaded_as(monkeypatch, no_dropout)
    r = evaluate_wfm(
        trained["robot"], [str(trained["shards"])], clips=2, horizon=2, steps=1, precision="fp32"
    )
    assert r["no_actions_psnr"] is None and "never trained without its actions" in r["no_actions_why"]
    table = "\n".join(following_table(r))
    assert "| n/a |" in table and "No actions: n/a, it was never trained without its actions" in table
    frames, _ = pushed_square_clip(5)
    with pytest.raises(ValueError, match="cannot drop 'actions': it was never trained without"):
        WorldModel.from_pretrained(trained["robot"]).predict(frames[:2], horizon=1, drop=["actions"])


def test_predict_drops_an_input_to_its_null_only_when_asked_once(trained: dict[str, Path]) -> None:
    world = WorldModel.from_pretrained(trained["robot"])
    frames, actions = pushed_square_clip(6)
    assert world.inputs == ("actions",) and world.null_missing("actions") is None
    dropped = world.predict(frames[:2], horizon=2, seed=3, steps=1, drop=["actions"])
    np.testing.assert_array_equal(
        dropped, world.predict(frames[:2], horizon=2, seed=3, steps=1, drop=["actions"])
    )
    with pytest.raises(ValueError, match="actions given and dropped"):
        world.predict(frames[:2], actions=actions[:2], horizon=2, drop=["actions"])
    with pytest.raises(ValueError, match="cannot drop 'camera': this world model takes no camera input"):
        world.predict(frames[:2], actions=actions[:2], horizon=2, drop=["camera"])


def test_a_prompt_per_row_equals_one_prompt_for_all(trained: dict[str, Path]) -> None:
    world = WorldModel.from_pretrained(trained["text"])
    assert world.inputs == ("text",) and world.null_missing("text") is None
    frames = np.stack([pushed_square_clip(7)[0][:2]] * 2)
    one = world.predict(frames, text="a square", horizon=2, seed=1, steps=1)
    np.testing.assert_array_equal(
        one, world.predict(frames, text=["a square"] * 2, horizon=2, seed=1, steps=1)
    )
    with pytest.raises(ValueError, match="a list of 2 prompts"):
        world.predict(frames, text=["a square"], horizon=2)


def test_eval_wfm_of_a_text_model_notes_captions_equal_across_episodes(trained: dict[str, Path]) -> None:
    from training.eval_wfm import evaluate_wfm
    from training.model_card import following_table

    r = evaluate_wfm(trained["text"], [str(trained["shards"])], clips=2, horizon=2, steps=1, precision="fp32")
    # The pushed-square shards have no captions: every clip's is "", which the model reads as its null
    # (the same attention, over a padded context: equal to float rounding).
    assert r["inputs"] == ["text"] and r["other_text_same"] == 2
    assert r["psnr"] == r["other_text_psnr"] == pytest.approx(r["no_text_psnr"], abs=0.01)
    assert "2 of 2 clips were given another episode's caption equal to their own." in following_table(r)[-1]


def test_text_model_generates_from_text_alone_and_continues_video(trained: dict[str, Path]) -> None:
    world = WorldModel.from_pretrained(trained["text"])
    out = world.predict(None, text="a white square pushed around", horizon=5, seed=1, steps=2)
    assert out.shape == (5, 32, 32, 3)
    np.testing.assert_array_equal(
        out, world.predict(None, text="a white square pushed around", horizon=5, seed=1, steps=2)
    )
    frames, _ = pushed_square_clip(3)
    assert world.predict(frames[:2], text="a square", horizon=2, steps=2, guidance=2.0).shape == (
        2,
        32,
        32,
        3,
    )


def test_guardrails_refuse_blocked_prompts_unless_switched_off(trained: dict[str, Path]) -> None:
    from curation.guardrails import BlockedPromptError, Guardrails

    world = WorldModel.from_pretrained(trained["text"])
    world.guardrails = Guardrails()
    with pytest.raises(BlockedPromptError, match="guardrail"):
        world.predict(None, text="a gory massacre", horizon=1, steps=1)
    assert world.predict(None, text="a gory massacre", horizon=1, steps=1, guardrails=False).shape == (
        1,
        32,
        32,
        3,
    )


def test_model_without_text_refuses_prompts(trained: dict[str, Path]) -> None:
    world = WorldModel.from_pretrained(trained["wfm"])
    frames, _ = pushed_square_clip(4)
    with pytest.raises(ValueError, match="not trained with text"):
        world.predict(frames[:2], text="hello", horizon=1)


def test_residual_inputs_are_scaled_changes_from_the_last_context_frame() -> None:
    latents = torch.randn(2, 4, 3, 2, 2)
    norm = LatentNorm((0.1,) * 4, (2.0,) * 4, 0.5)
    x0, cond = window_inputs({"latents": latents}, norm, context=2, use_actions=False, residual_scale=3.0)
    z = norm.normalize(latents)
    assert torch.allclose(x0[:, :, :2], z[:, :, :2])
    assert torch.allclose(x0[:, :, 2], (z[:, :, 2] - z[:, :, 1]) * 3.0, atol=1e-6)
    assert cond.cond_mask.tolist() == [[True, True, False]] * 2 and cond.actions is None


def test_residual_model_predicting_no_change_repeats_the_last_frame(trained: dict[str, Path]) -> None:
    world = WorldModel.from_pretrained(trained["residual"])
    assert world.residual_scale > 0
    world.wfm.sample = lambda shape, cond, **kwargs: torch.zeros(shape)  # "nothing moves"
    frames, actions = pushed_square_clip(13)
    out = world.predict(frames[:2], actions=actions[:3], horizon=3, guardrails=False)
    # The same encode and decode calls predict makes (batch shapes change float rounding).
    last_latent = world.encode(frames[None, :2])[:, :, -1:]
    assert np.array_equal(out, world.decode(last_latent.repeat(1, 1, 3, 1, 1))[0])


def test_residual_with_text_is_refused_with_the_reason(trained: dict[str, Path], capsys) -> None:
    code = main(
        [
            "train",
            "diffusion",
            "--text",
            "--residual",
            "--tokenizer",
            str(trained["tok"]),
            "--data",
            str(trained["shards"]),
            "--out",
            str(trained["shards"].parent / "bad"),
        ]
    )
    assert code == 2
    assert "drop --residual or --text" in capsys.readouterr().err


def test_the_same_command_and_seed_train_bit_identical_weights(trained: dict[str, Path], tmp_path) -> None:
    # Text model: its zero-initialised DiT gates hide a different initialisation from the first
    # loss, so only the weights show it.
    def train(out: Path, seed: int) -> None:
        args = ["train", "diffusion", "--text", "--tokenizer", str(trained["tok"])]
        args += ["--data", str(trained["shards"]), "--out", str(out), "--dit", "DiT-tiny", *COMMON]
        assert main([*args, "--seed", str(seed)]) == 0

    assert_seed_decides_weights(train, tmp_path)
