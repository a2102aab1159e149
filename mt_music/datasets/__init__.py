"""The published datasets (OLiMPiC, GrandStaff-LMX, BPSD, MAESTRO, MusicNet-EM, Slakh2100, score videos),
read from the folders users downloaded: layouts (`items`, `layouts/`), the shared preparation
(`prepare`) and their TFDS builders (`builders`, the only TensorFlow module here)."""
