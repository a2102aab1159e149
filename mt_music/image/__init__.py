"""Score images: pixels, staff detection, preprocessing to the codec's input, token grids, engraving.

    pixels         load as grayscale, whiten the background, the model's [-1, 1] range, rescale
    staves         five-line staff detection (staff height, staff positions)
    preprocessing  18 px staff height, padding to ×16, the 8×4 shift augmentation
    grids          the codec's token grids: flatten column-major, join / split systems, SEP, heights
    engraving      MusicXML → SVG (verovio) → PNG (rsvg-convert), with verovio's fonts installed

Pure NumPy/Pillow (engraving also verovio); no TensorFlow, no JAX (docs/design.md §3.3).
"""
