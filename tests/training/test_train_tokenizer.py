from pathlib import Path

import numpy as np
import pytest
import torch

from app.cli import main
from curation.shards import ShardWriter
from tests.pushed_square import square_clip_sample
from tests.seeding import assert_seed_decides_weights
from tests.tiny_worlds import tiny_run_args
from worldmodel import hub


def moving_square_clip(i: int, t: int = 12, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(i)
    frames = np.zeros((t, size, size, 3), np.uint8)
    frames[:] = rng.integers(0, 255, 3, dtype=np.uint8)
    x, y = rng.integers(0, size - 8, 2)
    for k in range(t):
        frames[k, y : y + 8, (x + k) % (size - 8) : (x + k) % (size - 8) + 8] = 255
    return frames


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shards")
    with ShardWriter(out) as writer:
        for i in range(12):
            writer.write(square_clip_sample(f"sq-{i}", moving_square_clip(i), {}))
    return out


def test_train_tokenizer_saves_loads_and_reconstructs(tmp_path: Path, shards: Path, capsys) -> None:
    out = tmp_path / "tok"
    args = ["train", "tokenizer", "--config", "DV4x8x8-tiny", "--data", str(shards), "--out", str(out)]
    args += ["--frames", "5", *tiny_run_args(steps=4, size=16)]
    assert main(args) == 0
    assert "held-out PSNR" in capsys.readouterr().out
    model = hub.load(out, expect_kind="tokenizer")
    x = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    latent, indices = model.encode(x)
    assert indices.shape == (1, 2, 2, 2)
    assert model.decode_code(indices).shape == (1, 3, 5, 16, 16)
    video = tmp_path / "side.mp4"
    args = ["eval", "tokenizer", "--ckpt", str(out), "--data", str(shards), "--clips", "2"]
    assert main([*args, "--video-out", str(video)]) == 0
    printed = capsys.readouterr().out
    assert "PSNR (dB)" in printed and "compression ratio" in printed
    assert video.stat().st_size > 0


def test_tokenizer_loss_falls_tenfold_when_overfitting_one_clip(shards: Path) -> None:
    from training.train_tokenizer import make_loss_fn
    from worldmodel.tokenizer import CausalVideoTokenizer, get_config
    from worldmodel.tokenizer.losses import TokenizerLossConfig

    torch.manual_seed(0)
    model = CausalVideoTokenizer(get_config("CI8x8-tiny"))
    clip = torch.from_numpy(moving_square_clip(0)[:1]).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
    loss_fn = make_loss_fn(TokenizerLossConfig(perceptual=0.0), vgg=None)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(150):
        loss, _ = loss_fn(model, {"video": clip[:, :, :, :16, :16]}, step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10


def test_train_tokenizer_rejects_bad_frame_count(tmp_path: Path, shards: Path, capsys) -> None:
    args = [
        "train",
        "tokenizer",
        "--config",
        "CV4x8x8-tiny",
        "--data",
        str(shards),
        "--out",
        str(tmp_path),
        "--size",
        "16",
        "--frames",
        "6",
        "--steps",
        "1",
    ]
    assert main(args) == 2
    assert "Nearest valid counts: [5, 9" in capsys.readouterr().err


def test_init_from_starts_from_the_source_weights_and_records_lineage(tmp_path: Path, shards: Path) -> None:
    common = ["--config", "CI8x8-tiny", "--data", str(shards), "--size", "16", "--batch-size", "2"]
    common += ["--eval-every", "1", "--save-every", "1", "--log-every", "1", "--warmup", "1"]
    source = tmp_path / "source"
    assert main(["train", "tokenizer", *common, "--out", str(source), "--steps", "2"]) == 0
    # lr 0: the one step changes nothing, so the result must equal the source exactly.
    tuned = tmp_path / "tuned"
    args = ["train", "tokenizer", *common, "--out", str(tuned), "--steps", "1", "--lr", "0"]
    assert main([*args, "--init-from", str(source)]) == 0
    a, b = hub.load(source).state_dict(), hub.load(tuned).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    init = hub.read_config(tuned)["dataset"]["init_from"]
    assert init["path"] == str(source) and init["step"] == 2
    from training.model_card import lineage_lines

    assert "2 steps x batch 2" in lineage_lines(init)[0]


def test_init_from_a_checkpoint_of_another_kind_is_a_clear_error(tmp_path: Path) -> None:
    from training.warm_start import initialise_from
    from worldmodel.tokenizer import CausalVideoTokenizer, get_config

    hub.save(CausalVideoTokenizer(get_config("CI8x8-tiny")), tmp_path / "tok")
    other = CausalVideoTokenizer(get_config("CI8x8-tiny"))
    with pytest.raises(hub.CheckpointError, match="tokenizer"):
        initialise_from(other, str(tmp_path / "tok"), kind="diffusion")


def test_freeze_encoder_trains_the_decoder_and_keeps_latents_bit_identical(
    tmp_path: Path, shards: Path
) -> None:
    common = ["--config", "CI8x8-tiny", "--data", str(shards), "--size", "16", "--batch-size", "2"]
    common += ["--eval-every", "2", "--save-every", "2", "--log-every", "1", "--warmup", "1", "--ema", "0.9"]
    source = tmp_path / "source"
    assert main(["train", "tokenizer", *common, "--out", str(source), "--steps", "2"]) == 0
    tuned = tmp_path / "tuned"
    args = ["train", "tokenizer", *common, "--out", str(tuned), "--steps", "3", "--lr", "1e-2"]
    assert main([*args, "--init-from", str(source), "--freeze-encoder"]) == 0
    a, b = hub.load(source), hub.load(tuned)
    x = torch.rand(1, 3, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(a.encode(x), b.encode(x))
        assert not torch.equal(a.decode(a.encode(x)), b.decode(b.encode(x)))
    dataset = hub.read_config(tuned)["dataset"]
    assert dataset["frozen"] == ["encoder"] and dataset["init_from"]["path"] == str(source)


def test_freeze_encoder_without_a_source_is_a_clear_error(tmp_path: Path, shards: Path, capsys) -> None:
    args = ["train", "tokenizer", "--config", "CI8x8-tiny", "--data", str(shards)]
    args += ["--out", str(tmp_path / "o")]
    assert main([*args, "--freeze-encoder"]) != 0
    assert "--init-from" in capsys.readouterr().err


def test_the_same_tokenizer_command_and_seed_train_bit_identical_weights(
    tmp_path: Path, shards: Path
) -> None:
    def train(out: Path, seed: int) -> None:
        args = ["train", "tokenizer", "--config", "CI8x8-tiny", "--data", str(shards), "--out", str(out)]
        args += ["--size", "16", "--steps", "2", "--batch-size", "2", "--eval-every", "2"]
        assert main([*args, "--seed", str(seed)]) == 0

    assert_seed_decides_weights(train, tmp_path)
