"""Text encoders of worldmodel.conditioning, on tiny configs with random tables (no files)."""

import pytest
import torch
from safetensors.torch import load_model, save_model

from worldmodel.conditioning import (
    TEXT_ENCODERS,
    StaticEmbeddingTextEncoder,
    T5TextEncoder,
    TextEncoderConfig,
    make_text_encoder,
)

TINY = TextEncoderConfig(vocab_size=50, embed_dim=16, dim=32, layers=2, heads=4, max_len=12)


def _encoder(seed: int = 0) -> StaticEmbeddingTextEncoder:
    torch.manual_seed(seed)
    return StaticEmbeddingTextEncoder(TINY).eval()


@pytest.mark.parametrize(
    ("field", "value"),
    [("vocab_size", 0), ("dim", -4), ("layers", 0), ("max_len", 0), ("heads", 5), ("name", "t5")],
)
def test_text_encoder_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field if field != "heads" else "divisible by heads"):
        TextEncoderConfig(**{**TINY.__dict__, field: value})


def test_factory_builds_the_encoder_named_in_the_config():
    assert TEXT_ENCODERS["static"] is StaticEmbeddingTextEncoder
    encoder = make_text_encoder(TINY)
    assert isinstance(encoder, StaticEmbeddingTextEncoder)
    assert encoder.dim == 32 and encoder.max_len == 12


def test_text_encoder_output_respects_padding_mask():
    encoder = _encoder()
    ids = torch.tensor([[1, 7, 9, 3, 0, 0], [1, 4, 0, 0, 0, 0]])
    mask = ids != 0
    emb, out_mask = encoder(ids, mask)
    assert emb.shape == (2, 6, 32)
    assert torch.equal(out_mask, mask)
    assert torch.all(emb[~mask] == 0)
    # Real tokens do not see the padding: other pad ids or a longer pad give the same vectors.
    other_pad = torch.where(mask, ids, torch.full_like(ids, 42))
    longer = torch.cat([other_pad, torch.full((2, 3), 17)], dim=1)
    emb_longer, _ = encoder(longer, torch.cat([mask, torch.zeros(2, 3, dtype=torch.bool)], dim=1))
    torch.testing.assert_close(emb_longer[:, :6][mask], emb[mask])


def test_text_encoder_embedding_of_a_token_depends_on_the_whole_caption():
    encoder = _encoder()
    mask = torch.ones(1, 3, dtype=torch.bool)
    a, _ = encoder(torch.tensor([[1, 7, 9]]), mask)
    b, _ = encoder(torch.tensor([[1, 7, 11]]), mask)
    # Bidirectional: changing the last word changes the first token's vector.
    assert not torch.allclose(a[0, 0], b[0, 0])


def test_caption_with_no_real_token_gives_finite_zero_embeddings():
    encoder = _encoder()
    emb, _ = encoder(torch.zeros(2, 4, dtype=torch.int64), torch.zeros(2, 4, dtype=torch.bool))
    assert torch.isfinite(emb).all() and torch.all(emb == 0)


def test_token_table_is_saved_with_the_model_but_never_trained():
    encoder = _encoder()
    assert "token_embedding" in encoder.state_dict()
    assert all(p is not encoder.token_embedding for p in encoder.parameters())
    ids = torch.tensor([[1, 2, 3]])
    emb, _ = encoder.train()(ids, torch.ones_like(ids, dtype=torch.bool))
    emb.square().mean().backward()
    assert encoder.token_embedding.grad is None
    assert encoder.in_proj.weight.grad is not None and encoder.pos_embedding.grad is not None


def test_static_encoder_round_trips_through_safetensors_with_its_table(tmp_path):
    encoder = _encoder(seed=0)
    table = torch.randn(TINY.vocab_size, TINY.embed_dim)
    encoder.load_embeddings(table)
    save_model(encoder, str(tmp_path / "enc.safetensors"))
    fresh = _encoder(seed=1)  # different random table and weights until loaded
    load_model(fresh, str(tmp_path / "enc.safetensors"))
    ids = torch.tensor([[1, 5, 8, 0]])
    mask = ids != 0
    torch.testing.assert_close(fresh(ids, mask)[0], encoder(ids, mask)[0])
    torch.testing.assert_close(fresh.token_embedding.float(), table.half().float())


def test_load_embeddings_rejects_a_table_of_the_wrong_shape():
    with pytest.raises(ValueError, match="vocab_size, embed_dim"):
        _encoder().load_embeddings(torch.zeros(TINY.vocab_size, TINY.embed_dim + 1))


def test_encoder_rejects_captions_longer_than_max_len_and_non_bool_masks():
    encoder = _encoder()
    ids = torch.ones(1, TINY.max_len + 1, dtype=torch.int64)
    with pytest.raises(ValueError, match="max_len"):
        encoder(ids, torch.ones_like(ids, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool mask"):
        encoder(ids[:, :3], torch.ones(1, 3))


class _FakeT5(torch.nn.Module):
    """Stands in for transformers' T5EncoderModel: same call signature, a dropout to catch train mode."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(10, 8)
        self.dropout = torch.nn.Dropout(0.5)

    def forward(self, input_ids, attention_mask):
        class Out:
            last_hidden_state = self.dropout(self.embed(input_ids)) * attention_mask[..., None]

        return Out()


def test_t5_wrapper_is_frozen_stays_in_eval_and_zeroes_padding():
    encoder = T5TextEncoder(_FakeT5(), dim=8, max_len=6).train()
    assert not any(p.requires_grad for p in encoder.parameters())
    assert not encoder.backbone.training
    ids = torch.tensor([[3, 4, 1, 0]])
    mask = ids != 0
    a, _ = encoder(ids, mask)
    b, _ = encoder(ids, mask)
    torch.testing.assert_close(a, b)  # dropout off
    assert a.shape == (1, 4, 8) and torch.all(a[~mask] == 0)
