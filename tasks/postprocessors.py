"""Task postprocessors: a prediction's (or target's) unified frames → the form its metrics read.

SeqIO calls `postprocess_fn(output, example=…, is_target=…)` on every decoded output and target.
Ours are [T, K] frames (rank-2 features have no text form); the functions live in
`mt_music.data.output_frames` (TensorFlow-free), which the decoding script uses too.
"""

from mt_music.data.output_frames import for_modality, postprocess

__all__ = ["for_modality", "postprocess"]
