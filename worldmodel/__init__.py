"""Pure PyTorch world-model components: tokenizers, world models, heads, conditioning, checkpoints.

Nothing in this package reads or writes files except ``hub`` (checkpoints).
"""
