"""Codecs (neural, or fitted on CPU) that turn score images and audio into K-code frames for the translation model.

    quantizer                    residual VQ (EMA or factorized codebooks), dead-code restarts
    image_rqvae, image_losses    the score-image RQ-VAE (16×16 px per token) and its loss
    audio_codec, audio_losses    the DAC-style audio codec (hop 512) and its losses
    discriminators               multi-period and multi-band STFT discriminators
    models                       codec models: losses, encode / decode, the codec.json spec
    trainer, train               the codec train step and `python -m mt_music.codecs.train`
    residual_kmeans              an RVQ fitted by Lloyd's algorithm (beam search, joint refinement)
    fitted, fit                  fitted-codec files (arrays.npz + codec.json) and `python -m mt_music.codecs.fit`
    patch_image, spectral_audio  the CPU codecs: binarized 16×16 patches; log-mel frames + Griffin-Lim
    tokenizer                    a trained or fitted codec for inference: images / audio ↔ codes, PNG / WAV
    evaluation                   reconstruction and transcribability metrics

No TensorFlow here: codec data and baked token records live in `mt_music.data`.
"""
