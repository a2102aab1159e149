"""YTSV pairs: score-following videos the user has → (slide/system images, audio span) pairs.

The published system trains image↔audio on pairs cut from YouTube score-following videos (YTSV,
`assets/ytsv/ytsv_metadata.csv`): a video shows one page ("slide") at a time while the performance
plays, so each static section of the picture is a slide and its time span is that slide's audio.
Nothing is downloaded; TF-free (NumPy, SciPy, Pillow, ffmpeg by subprocess).

    video      ffmpeg/ffprobe: probing, grayscale frames at 3 per second, 44.1 kHz mono audio
    slides     static-section segmentation of those frames (the published change detector)
    metadata   the CSV's rows, durations in seconds, the video-vs-CSV duration check
    splits     train/validation/test by video (85/7/8), a piece never in two splits
    pairs      one video → slides, system crops, padded audio spans, filters, its summary
    pipeline   many videos → `<out>/<YT Id>/…`, `pairs.jsonl`, `summary.json`; resumable, a process pool
"""
