"""Causal wavelet video tokenizers: continuous AE and discrete FSQ (arXiv 2501.03575, Sec. 5)."""

from worldmodel.tokenizer.configuration_tokenizer import TOKENIZER_CONFIGS, TokenizerConfig, get_config
from worldmodel.tokenizer.fsq import FSQ
from worldmodel.tokenizer.modeling_tokenizer import CausalVideoTokenizer
from worldmodel.tokenizer.streaming import StreamState

__all__ = ["FSQ", "TOKENIZER_CONFIGS", "CausalVideoTokenizer", "StreamState", "TokenizerConfig", "get_config"]
