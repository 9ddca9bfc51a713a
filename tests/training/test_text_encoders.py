"""Text encoders built from files: wordllama's shipped table (offline) and a tiny local T5."""

import socket

import pytest
import torch
from safetensors.torch import load_file, load_model, save_model

from training import text_encoders
from training.text_encoders import Tokenize, build_text_encoder, load_wordllama_embeddings, wordllama_tokenize
from worldmodel.conditioning import StaticEmbeddingTextEncoder, TextEncoderConfig

SMALL = TextEncoderConfig(embed_dim=64, dim=32, layers=2, heads=4, max_len=16)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access in a test that must run offline")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_wordllama_encoder_loads_offline_and_embeds_captions(no_network):
    encoder, tokenize = build_text_encoder("wordllama", config=SMALL)
    token_ids, mask = tokenize(["a robot arm pushes the red cube", "a car turns left"])
    assert token_ids.dtype == torch.int64 and mask.dtype == torch.bool
    assert token_ids[:, 0].tolist() == [1, 1]  # Llama-2's <s> opens every caption
    assert mask[0].all() and mask[1].sum() < mask.shape[1]
    emb, _ = encoder.eval()(token_ids, mask)
    assert emb.shape == (2, token_ids.shape[1], SMALL.dim) and torch.isfinite(emb).all()
    shipped = load_file(text_encoders.wordllama_files()[0])["embedding.weight"]
    assert torch.equal(encoder.token_embedding, shipped[:, : SMALL.embed_dim])


def test_wordllama_static_vectors_put_related_captions_closer():
    table = load_wordllama_embeddings(256).float()
    tokenize = wordllama_tokenize(max_len=16)

    def pooled(caption: str) -> torch.Tensor:
        ids, mask = tokenize([caption])
        ids = ids[:, 1:][mask[:, 1:]]  # drop <s>, which wordllama does not embed
        return torch.nn.functional.normalize(table[ids].mean(0), dim=0)

    cube = pooled("a red cube")
    assert cube @ pooled("a crimson block") > cube @ pooled("a car on the highway")


def test_tokenize_truncates_to_max_len_and_masks_padding():
    tokenize = wordllama_tokenize(max_len=5)
    token_ids, mask = tokenize(["one two three four five six seven eight", "hi", ""])
    assert token_ids.shape == (3, 5)
    assert mask.sum(1).tolist() == [5, 2, 1]  # the empty caption keeps its <s>
    assert torch.all(token_ids[~mask] == 0)
    with pytest.raises(TypeError, match="list of captions"):
        tokenize("a single string")


def test_saved_tokenizer_reloads_without_wordllama(tmp_path, monkeypatch):
    tokenize = wordllama_tokenize(max_len=8)
    tokenize.save(tmp_path)

    def no_wordllama():
        raise ImportError("wordllama is not installed")

    monkeypatch.setattr(text_encoders, "wordllama_files", no_wordllama)
    reloaded = Tokenize.load(tmp_path)
    captions = ["the gripper opens slowly above the table", "a blue sphere"]
    assert reloaded.max_len == 8
    for a, b in zip(reloaded(captions), tokenize(captions), strict=True):
        assert torch.equal(a, b)


def test_world_model_weights_carry_the_table_so_loading_needs_no_wordllama(tmp_path):
    encoder, tokenize = build_text_encoder("wordllama", config=SMALL)
    save_model(encoder, str(tmp_path / "model.safetensors"))
    fresh = StaticEmbeddingTextEncoder(SMALL)  # random table, as a checkpoint loader builds it
    load_model(fresh, str(tmp_path / "model.safetensors"))
    ids, mask = tokenize(["a drone flies over a field"])
    torch.testing.assert_close(fresh.eval()(ids, mask)[0], encoder.eval()(ids, mask)[0])


def test_build_text_encoder_kinds_and_their_errors():
    assert build_text_encoder("none") == (None, None)
    with pytest.raises(ValueError, match="local folder"):
        build_text_encoder("t5")
    with pytest.raises(ValueError, match="only used by kind='t5'"):
        build_text_encoder("wordllama", path="/some/where")
    with pytest.raises(ValueError, match="kind must be one of"):
        build_text_encoder("clip")
    with pytest.raises(ValueError, match="vocab_size"):
        build_text_encoder("wordllama", config=TextEncoderConfig(vocab_size=1000))
    with pytest.raises(ValueError, match="embed_dim"):
        build_text_encoder("wordllama", config=TextEncoderConfig(embed_dim=100))
    with pytest.raises(FileNotFoundError, match="never downloads"):
        build_text_encoder("t5", path="/no/such/t5/folder")


@pytest.fixture
def tiny_t5_folder(tmp_path):
    """A randomly initialised 1-layer T5 encoder and a WordLevel tokenizer, saved like a real T5 folder."""
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    words = ["<pad>", "</s>", "<unk>", "a", "robot", "red", "cube", "pushes", "the"]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    ).save_pretrained(tmp_path)
    config = transformers.T5Config(
        vocab_size=len(words), d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4, dropout_rate=0.5
    )
    torch.manual_seed(0)
    transformers.T5EncoderModel(config).save_pretrained(tmp_path)
    return tmp_path


def test_t5_encoder_loads_frozen_from_a_local_folder(tiny_t5_folder, no_network):
    encoder, tokenize = build_text_encoder("t5", tiny_t5_folder, config=TextEncoderConfig(max_len=4))
    assert encoder.dim == 32 and tokenize.max_len == 4
    assert not any(p.requires_grad for p in encoder.parameters())
    token_ids, mask = tokenize(["the robot pushes the red cube", "a cube"])
    assert token_ids.tolist() == [[8, 4, 7, 1], [3, 6, 1, 0]]  # truncated, </s> kept, padded with <pad>
    emb, _ = encoder.train()(token_ids, mask)  # dropout stays off: the backbone is frozen in eval
    again, _ = encoder(token_ids[1:, :3], mask[1:, :3])
    assert emb.shape == (2, 4, 32) and torch.all(emb[~mask] == 0)
    torch.testing.assert_close(again[0], emb[1, :3])  # padding does not change the real tokens
