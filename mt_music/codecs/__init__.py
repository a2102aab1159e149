"""Neural codecs that turn images and audio into discrete tokens for the music translation models."""
