"""Analytic matmul FLOPs of the Transformer, for model-FLOPs utilisation (MFU).

Counts 2 FLOPs per multiply-add of every matmul/einsum the network runs,
attention over the full (not causally halved) score matrix as XLA computes it,
and the sub-decoder over all K slots of every frame. Embedding gathers, norms,
softmax and GELU are left out (a few % on small models; tests/test_models.py
compares with XLA's own count). A training step costs 3× the forward pass
(backward = 2× forward), ignoring remat's recomputation, as MFU conventionally does.
"""

from __future__ import annotations

from mt_music.model.network import TransformerConfig

# Dense bf16 peak per chip (vendor data sheets), FLOP/s.
PEAK_BF16_FLOPS = {
    "a100": 312e12,
    "h100": 989e12,
    "h200": 989e12,
    "tpu_v4": 275e12,
    "tpu_v5e": 197e12,
    "tpu_v5p": 459e12,
}


def forward_flops(config: TransformerConfig, encoder_length: int, decoder_length: int) -> dict[str, float]:
    """Forward FLOPs of ONE example, by part, plus 'total'."""
    d, f, v, k = config.emb_dim, config.mlp_dim, config.vocab_size, config.num_slots
    width = config.num_heads * config.head_dim
    le, ld = encoder_length, decoder_length
    mlp = lambda n: 2 * n * 2 * d * f  # noqa: E731  wi and wo

    encoder_layer = 2 * le * d * 4 * width + 2 * 2 * le * le * width + mlp(le)
    decoder_layer = (
        2 * ld * d * 4 * width + 2 * 2 * ld * ld * width  # causal self-attention
        + 2 * ld * d * 2 * width + 2 * le * d * 2 * width + 2 * 2 * ld * le * width  # cross-attention
        + mlp(ld)
    )
    slots = ld * k  # the sub-decoder's attention width is emb_dim (heads · emb_dim / heads)
    sub_decoder = 2 * slots * d * 4 * d + 2 * 2 * ld * k * k * d + mlp(slots)
    parts = {
        "encoder": float(config.num_encoder_layers * encoder_layer),
        "decoder": float(config.num_decoder_layers * decoder_layer),
        "sub_decoder": float(sub_decoder),
        "logits": float(2 * slots * d * v),
    }
    parts["total"] = sum(parts.values())
    return parts


def train_step_flops(config: TransformerConfig, batch_size: int, encoder_length: int, decoder_length: int) -> float:
    """FLOPs of one training step (forward + backward) on a [B, Le] → [B, Ld] batch."""
    return 3.0 * batch_size * forward_flops(config, encoder_length, decoder_length)["total"]


def train_flops_per_token(config: TransformerConfig, encoder_length: int, decoder_length: int) -> float:
    """Training FLOPs per sequence position (encoder + decoder frames, padding included)."""
    return train_step_flops(config, 1, encoder_length, decoder_length) / (encoder_length + decoder_length)


def mfu(step_flops: float, step_seconds: float, num_devices: int = 1, peak_flops: float = PEAK_BF16_FLOPS["h100"]) -> float:
    """Model-FLOPs utilisation: achieved / peak FLOP/s over all devices."""
    return step_flops / step_seconds / (num_devices * peak_flops)
