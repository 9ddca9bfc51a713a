"""Autoregressive world model: a GPT over FSQ video tokens, KV cache, sampling (arXiv 2501.03575 Sec. 5.3)."""

from worldmodel.autoregressive.configuration_autoregressive import ARConfig
from worldmodel.autoregressive.configuration_gpt import GPT_MODELS, GPTConfig, get_config
from worldmodel.autoregressive.kv_cache import KVCache
from worldmodel.autoregressive.modeling_autoregressive import AutoregressiveWorldModel
from worldmodel.autoregressive.modeling_gpt import GPT
from worldmodel.autoregressive.sampling import sample_logits, top_k_filter, top_p_filter

__all__ = [
    "GPT",
    "GPT_MODELS",
    "ARConfig",
    "AutoregressiveWorldModel",
    "GPTConfig",
    "KVCache",
    "get_config",
    "sample_logits",
    "top_k_filter",
    "top_p_filter",
]
