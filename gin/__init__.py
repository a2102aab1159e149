# Makes this folder installable as the package `mt_music.gin_configs` so the
# `.gin` files ship with the wheel. See mt_music/gin_paths.py.
