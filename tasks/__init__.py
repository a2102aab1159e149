"""SeqIO tasks and mixtures of mt_music (installed as `mt_music.tasks`).

Registered in their own issue; this package exists so the layout and the import
name are fixed from the start.
"""
