"""Inference on a user's files: exported models (`exported`), readers of inputs (`inputs`), writers of
outputs (`outputs`), score-page system detection (`systems`) and the `Translator` that joins them.
TensorFlow-, SeqIO- and gin-free: an export runs wherever JAX does."""
