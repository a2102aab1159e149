"""One module per published dataset: its on-disk layout as `LAYOUT` and `missing(root, config)`."""
