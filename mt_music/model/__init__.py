"""The translation model: JAX/Flax only — it never imports TensorFlow or SeqIO (docs/design.md §2, §4).

    layers    dense / embedding / attention building blocks with logical axis names
    network   the encoder–decoder Transformer over K-slot frames, with the RVQ sub-decoder
    losses    masked cross-entropy over slots
    models    the T5X-style model API: loss, predict_batch, score_batch
    decoding  cached autoregressive decoding, K sub-decoder steps per frame, sampling
    flops     analytic FLOPs per step (the reference for MFU)
"""
