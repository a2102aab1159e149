#!/usr/bin/env python
"""Feeds every command-line tool the mistakes a new user makes, and checks each is ONE clean error.

    python tools/bad_input_sweep.py                  # every case (a few minutes on 2 cores)
    python tools/bad_input_sweep.py --only midi      # the cases whose CLI or name contains "midi"
    python tools/bad_input_sweep.py --list           # the cases, without running them

Each case runs as a subprocess (two at a time, with a timeout) on fixtures built in a temporary
folder: a tiny MIDI and MusicXML, a MIDI without notes, a PNG, binary garbage, empty and truncated
files, a damaged tar / shard / TFRecord, bad JSON, a file where a folder belongs, and so on. A case is
  clean      non-zero exit, the last line of stderr starts with `error:`, no traceback
  traceback  a Python traceback on stderr
  silent     exit 0 on bad input (or a non-zero exit without an `error:` line)
  timeout    still running after --timeout seconds
`help` cases must exit 0. A table per CLI and the totals are printed; exit status 1 unless all are clean.
As root, permission bits do not stop writes, so read-only outputs are tested as "a file where a folder
belongs" (and a chmod 555 folder only when not root).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import dataclasses
import io
import json
import os
import pathlib
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
PY = sys.executable


@dataclasses.dataclass
class Case:
    cli: str
    name: str
    argv: list[str]
    stdin: str | None = None  # a fixture file piped to stdin
    help: bool = False  # must exit 0


@dataclasses.dataclass
class Outcome:
    case: Case
    verdict: str
    returncode: int | None
    last_line: str
    seconds: float


# ------------------------------------------------------------------------------- fixtures
def build_fixtures(folder: pathlib.Path) -> dict[str, str]:
    """Small bad (and a few good) inputs; returns name → path."""
    import numpy as np
    import pretty_midi
    from PIL import Image

    f = {}

    def put(name: str, data: bytes | str) -> str:
        path = folder / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        f[name] = str(path)
        return str(path)

    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes += [pretty_midi.Note(velocity=90, pitch=60 + i, start=i * 0.5, end=i * 0.5 + 0.4) for i in range(8)]
    midi.instruments.append(piano)
    midi.write(str(folder / "tiny.mid"))
    f["tiny.mid"] = str(folder / "tiny.mid")
    empty_midi = pretty_midi.PrettyMIDI()
    empty_midi.instruments.append(pretty_midi.Instrument(program=0))
    empty_midi.write(str(folder / "no_notes.mid"))
    f["no_notes.mid"] = str(folder / "no_notes.mid")
    put("truncated.mid", (folder / "tiny.mid").read_bytes()[:30])
    image = io.BytesIO()
    Image.fromarray(np.full((32, 64), 255, np.uint8)).save(image, format="PNG")
    put("image.png", image.getvalue())
    put("garbage.bin", bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)))
    put("empty.txt", b"")
    put("afile", "I am a file, not a folder\n")
    one_part = ('<?xml version="1.0"?><score-partwise version="4.0"><part-list><score-part id="P1">'
                '<part-name>A</part-name></score-part></part-list><part id="P1"><measure number="1"><attributes>'
                '<divisions>1</divisions><key><fifths>0</fifths></key><time><beats>4</beats><beat-type>4</beat-type>'
                '</time><clef><sign>G</sign><line>2</line></clef></attributes><note><pitch><step>C</step>'
                '<octave>4</octave></pitch><duration>4</duration><type>whole</type></note></measure></part>'
                '</score-partwise>')
    put("one_part.musicxml", one_part)
    two_parts = one_part.replace('</part-list>', '<score-part id="P2"><part-name>B</part-name></score-part></part-list>')
    two_parts = two_parts.replace("</score-partwise>", one_part[one_part.index('<part id="P1">'):].replace(
        'id="P1"', 'id="P2"'))
    put("two_parts.musicxml", two_parts)
    put("truncated.musicxml", one_part[: len(one_part) // 2])
    put("timewise.musicxml", '<?xml version="1.0"?><score-timewise><part-list/></score-timewise>')
    put("html.xml", "<html><body>not music</body></html>")
    import zipfile
    with zipfile.ZipFile(folder / "score.mxl", "w") as archive:
        archive.writestr("score.musicxml", two_parts)
    f["score.mxl"] = str(folder / "score.mxl")
    put("broken.mxl", b"PK\x03\x04" + b"\x00" * 60)
    put("tokens.lmx", "measure clef:G2 C4 quarter\n")
    put("prose.txt", "This is a letter to my friend about the weather and nothing else at all.\n" * 20)
    put("bad_header.lmx", "version: 9.9\n---\nmeasure C4 quarter\n")
    put("midi_tokens.txt", "tie EOS")
    put("bad.json", "{not json")
    put("list.json", "[1, 2, 3]")
    put("nocollections.json", json.dumps({"pieces": 3}))
    put("badentry.json", json.dumps({"collections": {"bach": {"ok": "many"}}}))
    put("garbage.tar", bytes(np.random.default_rng(1).integers(0, 256, 2048, dtype=np.uint8)))
    good_tar = io.BytesIO()
    with tarfile.open(fileobj=good_tar, mode="w") as archive:
        data = b"x" * 5000
        info = tarfile.TarInfo("piece.json")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    put("truncated.tar", good_tar.getvalue()[:1500])
    shards = folder / "shards"
    shards.mkdir()
    f["shards"] = str(shards)
    _damaged_shard(shards / "damaged_png.tar", one_part)
    (folder / "shards_garbage").mkdir()
    (folder / "shards_garbage" / "bad.tar").write_bytes(pathlib.Path(f["garbage.tar"]).read_bytes())
    f["shards_garbage"] = str(folder / "shards_garbage")
    (folder / "empty_dir").mkdir()
    f["empty_dir"] = str(folder / "empty_dir")
    put("records.tfrecord", bytes(np.random.default_rng(2).integers(0, 256, 512, dtype=np.uint8)))
    put("empty.tfrecord", b"")
    codec = folder / "codec_bad_json"
    codec.mkdir()
    (codec / "codec.json").write_text("{oops")
    f["codec_bad_json"] = str(codec)
    codec = folder / "codec_no_ckpt"
    codec.mkdir()
    (codec / "codec.json").write_text(json.dumps({"kind": "image"}))
    f["codec_no_ckpt"] = str(codec)
    put("bad.gin", "this is = = not gin (\n")
    put("unknown.gin", "models.NoSuchThing.size = 3\n")
    images = np.full((40, 64), 255, np.uint8)
    np.savez(folder / "images.npz", image_pixels=images.ravel(), image_shapes=np.asarray([images.shape]))
    f["images.npz"] = str(folder / "images.npz")
    data_dir = folder / "data"
    incomplete = data_dir / "mt_music_corpus" / "tiny" / "incomplete.ABC123_1.0.0"
    incomplete.mkdir(parents=True)
    f["data_incomplete"] = str(data_dir)
    (folder / "data_empty").mkdir()
    f["data_empty"] = str(folder / "data_empty")
    if os.geteuid() != 0:
        readonly = folder / "readonly"
        readonly.mkdir()
        readonly.chmod(0o555)
        f["readonly"] = str(readonly)
    return f


def _damaged_shard(path: pathlib.Path, musicxml: str) -> None:
    """A shard in the builder's layout whose PNG and FLAC are garbage."""
    system = {"id": "fake/piece-v0-s0", "system_index": 0, "measure_start": 0, "measure_stop": 1,
              "lmx": "measure key:fifths:0 time beats:4 beat-type:4 clef:G2 C4 whole", "span_start": 0.0,
              "span_end": 2.0, "notes": {"start": [0.0], "end": [2.0], "pitch": [60], "velocity": [90],
                                         "program": [0], "is_drum": [False]}, "audio_samples": 132300}
    meta = {"id": "fake/piece-v0", "duration": 2.0, "num_systems": 1, "notes": system["notes"], "split": "train",
            "systems": [system]}
    with tarfile.open(path, "w") as archive:
        for name, data in (("piece.json", json.dumps(meta).encode()), ("piece.musicxml", musicxml.encode()),
                           ("system_000.png", b"\x89PNG\r\n\x1a\n garbage"), ("system_000.flac", b"fLaC junk")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


# ---------------------------------------------------------------------------------- cases
def cases(f: dict[str, str], tmp: pathlib.Path) -> list[Case]:
    """Every case; `f` maps fixture names to paths, `tmp` is for outputs that must not appear."""
    missing = str(tmp / "does_not_exist" / "x")
    no_parent = str(tmp / "no" / "such" / "folder" / "out")
    file_as_dir = f["afile"]
    below_file = f["afile"] + "/out"
    readonly = f.get("readonly", f["afile"])  # as root, chmod 555 does not stop writes
    out = str(tmp / "outputs")
    all_cases: list[Case] = []

    def add(cli: str, name: str, *argv: str, stdin: str | None = None, help: bool = False) -> None:
        all_cases.append(Case(cli, name, list(argv), stdin, help))

    # --- python -m mt_music.lmx
    lmx = (PY, "-m", "mt_music.lmx")
    add("lmx", "help", *lmx, "--help", help=True)
    add("lmx", "no command", *lmx)
    add("lmx", "unknown command", *lmx, "linearise", f["one_part.musicxml"])
    add("lmx", "linearize missing file", *lmx, "linearize", missing)
    add("lmx", "linearize folder", *lmx, "linearize", f["empty_dir"])
    add("lmx", "linearize empty file", *lmx, "linearize", f["empty.txt"])
    add("lmx", "linearize binary garbage", *lmx, "linearize", f["garbage.bin"])
    add("lmx", "linearize a PNG", *lmx, "linearize", f["image.png"])
    add("lmx", "linearize a MIDI", *lmx, "linearize", f["tiny.mid"])
    add("lmx", "linearize truncated XML", *lmx, "linearize", f["truncated.musicxml"])
    add("lmx", "linearize HTML", *lmx, "linearize", f["html.xml"])
    add("lmx", "linearize timewise", *lmx, "linearize", f["timewise.musicxml"])
    add("lmx", "linearize two parts", *lmx, "linearize", f["two_parts.musicxml"])
    add("lmx", "linearize two-part .mxl on stdin", *lmx, "linearize", "-", stdin=f["score.mxl"])
    add("lmx", "linearize garbage on stdin", *lmx, "linearize", "-", stdin=f["garbage.bin"])
    add("lmx", "linearize empty stdin", *lmx, "linearize", "-", stdin=f["empty.txt"])
    add("lmx", "linearize broken .mxl", *lmx, "linearize", f["broken.mxl"])
    add("lmx", "linearize --system 5", *lmx, "linearize", f["one_part.musicxml"], "--system", "5")
    add("lmx", "linearize --system -1", *lmx, "linearize", f["one_part.musicxml"], "--system", "-1")
    add("lmx", "linearize --system abc", *lmx, "linearize", f["one_part.musicxml"], "--system", "abc")
    add("lmx", "linearize bad flavor", *lmx, "linearize", f["one_part.musicxml"], "--flavor", "fancy")
    add("lmx", "linearize -o folder", *lmx, "linearize", f["one_part.musicxml"], "-o", f["empty_dir"])
    add("lmx", "linearize -o missing parent", *lmx, "linearize", f["one_part.musicxml"], "-o", no_parent)
    add("lmx", "linearize -o below a file", *lmx, "linearize", f["one_part.musicxml"], "-o", below_file)
    add("lmx", "linearize --pianoform garbage", *lmx, "linearize", f["garbage.bin"], "--pianoform")
    add("lmx", "delinearize missing file", *lmx, "delinearize", missing)
    add("lmx", "delinearize folder", *lmx, "delinearize", f["empty_dir"])
    add("lmx", "delinearize MusicXML", *lmx, "delinearize", f["one_part.musicxml"])
    add("lmx", "delinearize empty file", *lmx, "delinearize", f["empty.txt"])
    add("lmx", "delinearize binary garbage", *lmx, "delinearize", f["garbage.bin"])
    add("lmx", "delinearize a MIDI", *lmx, "delinearize", f["tiny.mid"])
    add("lmx", "delinearize prose", *lmx, "delinearize", f["prose.txt"])
    add("lmx", "delinearize bad header", *lmx, "delinearize", f["bad_header.lmx"])
    add("lmx", "delinearize MusicXML on stdin", *lmx, "delinearize", "-", stdin=f["one_part.musicxml"])
    add("lmx", "delinearize garbage on stdin", *lmx, "delinearize", "-", stdin=f["garbage.bin"])
    add("lmx", "delinearize -o folder", *lmx, "delinearize", f["tokens.lmx"], "-o", f["empty_dir"])
    add("lmx", "delinearize -o missing parent", *lmx, "delinearize", f["tokens.lmx"], "-o", no_parent)

    # --- python -m mt_music.midi
    midi = (PY, "-m", "mt_music.midi")
    add("midi", "help", *midi, "--help", help=True)
    add("midi", "encode help", *midi, "encode", "--help", help=True)
    add("midi", "no command", *midi)
    add("midi", "encode missing file", *midi, "encode", missing)
    add("midi", "encode folder", *midi, "encode", f["empty_dir"])
    add("midi", "encode empty file", *midi, "encode", f["empty.txt"])
    add("midi", "encode a PNG", *midi, "encode", f["image.png"])
    add("midi", "encode MusicXML", *midi, "encode", f["one_part.musicxml"])
    add("midi", "encode truncated MIDI", *midi, "encode", f["truncated.mid"])
    add("midi", "encode zero-note MIDI", *midi, "encode", f["no_notes.mid"])
    add("midi", "encode --start past the end", *midi, "encode", f["tiny.mid"], "--start", "500")
    add("midi", "encode --start negative", *midi, "encode", f["tiny.mid"], "--start", "-3")
    add("midi", "encode --end before start", *midi, "encode", f["tiny.mid"], "--start", "2", "--end", "1")
    add("midi", "encode --start nan", *midi, "encode", f["tiny.mid"], "--start", "nan")
    add("midi", "encode --window-seconds 0", *midi, "encode", f["tiny.mid"], "--window-seconds", "0")
    add("midi", "encode --window-seconds -5", *midi, "encode", f["tiny.mid"], "--window-seconds", "-5")
    add("midi", "encode --window-seconds inf", *midi, "encode", f["tiny.mid"], "--window-seconds", "inf")
    add("midi", "encode --window-seconds 0.001", *midi, "encode", f["tiny.mid"], "--all-windows",
        "--window-seconds", "0.001")
    add("midi", "encode --window-seconds ten", *midi, "encode", f["tiny.mid"], "--window-seconds", "ten")
    add("midi", "encode --max-shift-steps 0", *midi, "encode", f["tiny.mid"], "--max-shift-steps", "0")
    add("midi", "encode --max-shift-steps too small", *midi, "encode", f["tiny.mid"], "--max-shift-steps", "10")
    add("midi", "encode --all-windows with --end", *midi, "encode", f["tiny.mid"], "--all-windows", "--end", "5")
    add("midi", "encode --all-windows zero notes", *midi, "encode", f["no_notes.mid"], "--all-windows")
    add("midi", "decode missing tokens", *midi, "decode", missing, "-o", str(tmp / "x.mid"))
    add("midi", "decode without -o", *midi, "decode", f["midi_tokens.txt"])
    add("midi", "decode binary tokens", *midi, "decode", f["garbage.bin"], "-o", str(tmp / "x.mid"))
    add("midi", "decode empty tokens", *midi, "decode", f["empty.txt"], "-o", str(tmp / "x.mid"))
    add("midi", "decode MusicXML as tokens", *midi, "decode", f["one_part.musicxml"], "-o", str(tmp / "x.mid"))
    add("midi", "decode no notes", *midi, "decode", f["midi_tokens.txt"], "-o", str(tmp / "x.mid"))
    add("midi", "decode tokens folder", *midi, "decode", f["empty_dir"], "-o", str(tmp / "x.mid"))
    add("midi", "decode -o folder", *midi, "decode", f["midi_tokens.txt"], "-o", f["empty_dir"])
    add("midi", "decode -o missing parent", *midi, "decode", f["midi_tokens.txt"], "-o", no_parent)
    add("midi", "decode -o below a file", *midi, "decode", f["midi_tokens.txt"], "-o", below_file)
    add("midi", "decode --window-seconds 0", *midi, "decode", f["midi_tokens.txt"], "--lines", "-o",
        str(tmp / "x.mid"), "--window-seconds", "0")
    add("midi", "roundtrip missing file", *midi, "roundtrip", missing)
    add("midi", "roundtrip zero-note MIDI", *midi, "roundtrip", f["no_notes.mid"])
    add("midi", "roundtrip a PNG", *midi, "roundtrip", f["image.png"])
    add("midi", "roundtrip garbage", *midi, "roundtrip", f["garbage.bin"])
    add("midi", "roundtrip --window-seconds 0", *midi, "roundtrip", f["tiny.mid"], "--window-seconds", "0")
    add("midi", "roundtrip --window-seconds 0.005", *midi, "roundtrip", f["tiny.mid"], "--window-seconds", "0.005")
    add("midi", "roundtrip shift range too small", *midi, "roundtrip", f["tiny.mid"], "--window-seconds", "20",
        "--max-shift-steps", "1000")

    # --- python -m mt_music.image.engraving
    engraving = (PY, "-m", "mt_music.image.engraving")
    add("engraving", "help", *engraving, "--help", help=True)
    add("engraving", "no command", *engraving)
    add("engraving", "unknown command", *engraving, "install-font")
    add("engraving", "--font-dir is a file", *engraving, "install-fonts", "--font-dir", file_as_dir, "--no-fc-cache")
    add("engraving", "--font-dir below a file", *engraving, "install-fonts", "--font-dir", below_file,
        "--no-fc-cache")
    add("engraving", "--font-dir read-only", *engraving, "install-fonts", "--font-dir", readonly, "--no-fc-cache")
    add("engraving", "--font-dir in /proc", *engraving, "install-fonts", "--font-dir", "/proc/mt_music_fonts",
        "--no-fc-cache")

    # --- python -m mt_music.quickstart
    quick = (PY, "-m", "mt_music.quickstart")
    add("quickstart", "help", *quick, "--help", help=True)
    add("quickstart", "--out is a file", *quick, "--out", file_as_dir)
    add("quickstart", "--out below a file", *quick, "--out", below_file)
    add("quickstart", "--out read-only", *quick, "--out", readonly)
    add("quickstart", "--out in /proc", *quick, "--out", "/proc/mt_music_out")
    add("quickstart", "unknown piece", *quick, "--pieces", "bach/bwv999999", "--out", out)
    add("quickstart", "piece is a file path", *quick, "--pieces", f["one_part.musicxml"], "--out", out)
    add("quickstart", "--window-seconds 0", *quick, "--window-seconds", "0", "--out", out)
    add("quickstart", "--window-seconds -10", *quick, "--window-seconds", "-10", "--out", out)
    add("quickstart", "--window-seconds 0.001", *quick, "--window-seconds", "0.001", "--out", out)
    add("quickstart", "--window-seconds nan", *quick, "--window-seconds", "nan", "--out", out)
    add("quickstart", "--window-seconds abc", *quick, "--window-seconds", "abc")
    add("quickstart", "unknown flag", *quick, "--peices", "bach/bwv66.6")

    # --- python -m mt_music.train and python -m mt_music.codecs.train (gin entry points)
    for cli, module, gin_file in (("train", "mt_music.train", "experiments/tiny_synthetic.gin"),
                                  ("codecs.train", "mt_music.codecs.train", "codecs/image_tiny.gin")):
        entry = (PY, "-m", module)
        run_dir = f"--gin.MODEL_DIR='{tmp / cli}'"
        add(cli, "help", *entry, "--help", help=True)
        add(cli, "no --gin_file", *entry)
        add(cli, "missing gin file", *entry, "--gin_file=no_such_config.gin", run_dir)
        add(cli, "gin file is a folder", *entry, f"--gin_file={f['empty_dir']}", run_dir)
        add(cli, "gin file is garbage", *entry, f"--gin_file={f['garbage.bin']}", run_dir)
        add(cli, "gin syntax error", *entry, f"--gin_file={f['bad.gin']}", run_dir)
        add(cli, "gin unknown configurable", *entry, f"--gin_file={f['unknown.gin']}", run_dir)
        add(cli, "misspelt binding", *entry, f"--gin_file={gin_file}", run_dir, "--gin.TRAIN_STEPZ=3")
        add(cli, "misspelt configurable", *entry, f"--gin_file={gin_file}", run_dir, "--gin.trian.train.seed=1")
        add(cli, "unquoted MODEL_DIR", *entry, f"--gin_file={gin_file}", f"--gin.MODEL_DIR={tmp / 'run'}")
        add(cli, "unbalanced binding", *entry, f"--gin_file={gin_file}", run_dir, "--gin.TRAIN_STEPS=(")
        add(cli, "MODEL_DIR is a file", *entry, f"--gin_file={gin_file}", f"--gin.MODEL_DIR='{file_as_dir}'")
        add(cli, "MODEL_DIR below a file", *entry, f"--gin_file={gin_file}", f"--gin.MODEL_DIR='{below_file}'")
        add(cli, "MODEL_DIR read-only", *entry, f"--gin_file={gin_file}", f"--gin.MODEL_DIR='{readonly}'")
        add(cli, "unknown flag", *entry, f"--gin_file={gin_file}", run_dir, "--batch_size=3")
        add(cli, "stray argument", *entry, f"--gin_file={gin_file}", run_dir, "extra")
    tiny = ("experiments/tiny_synthetic.gin", f"--gin.MODEL_DIR='{tmp / 'train_run'}'")
    train = (PY, "-m", "mt_music.train", f"--gin_file={tiny[0]}", tiny[1])
    add("train", "TRAIN_STEPS 0", *train, "--gin.TRAIN_STEPS=0")
    add("train", "TRAIN_STEPS -5", *train, "--gin.TRAIN_STEPS=-5")
    add("train", "BATCH_SIZE 0", *train, "--gin.BATCH_SIZE=0")
    add("train", "BATCH_SIZE string", *train, "--gin.BATCH_SIZE='big'")
    add("train", "mesh fsdp 0", *train, "--gin.partitioning.MeshConfig.fsdp=0")
    add("train", "num_microbatches 0", *train, "--gin.train.train.num_microbatches=0")
    add("train", "--num_processes abc", *train, "--num_processes=abc")
    codec = (PY, "-m", "mt_music.codecs.train", "--gin_file=codecs/image_tiny.gin",
             f"--gin.MODEL_DIR='{tmp / 'codec_run'}'", "--gin.codec_windows.ImageCrops.images=@codec_windows.load_images()",
             f"--gin.codec_windows.load_images.path='{f['images.npz']}'")
    add("codecs.train", "crop not a multiple of 16", *codec, "--gin.codec_windows.ImageCrops.crop_height=100")
    add("codecs.train", "images npz missing", *codec[:-1], f"--gin.codec_windows.load_images.path='{missing}.npz'")
    add("codecs.train", "images npz is garbage", *codec[:-1], f"--gin.codec_windows.load_images.path='{f['garbage.bin']}'")
    add("codecs.train", "TRAIN_STEPS 0", *codec, "--gin.TRAIN_STEPS=0")

    # --- tools/*.py
    def tool(name: str) -> tuple[str, ...]:
        return (PY, str(ROOT / "tools" / f"{name}.py"))

    t = tool("build_corpus")
    add("build_corpus", "help", *t, "--help", help=True)
    add("build_corpus", "unknown config", *t, "--config", "medium")
    add("build_corpus", "unknown piece id", *t, "--piece-ids", "bach/bwv0000", "--data-dir", out)
    add("build_corpus", "unknown composer", *t, "--composers", "Zzyzxquux", "--data-dir", out)
    add("build_corpus", "--workers 0", *t, "--workers", "0", "--data-dir", out)
    add("build_corpus", "--pieces 0", *t, "--pieces", "0", "--data-dir", out)
    add("build_corpus", "--pieces -2", *t, "--pieces", "-2", "--data-dir", out)
    add("build_corpus", "--variants 0", *t, "--variants", "0", "--data-dir", out)
    add("build_corpus", "--max-piece-seconds -1", *t, "--max-piece-seconds", "-1", "--data-dir", out)
    add("build_corpus", "--pieces abc", *t, "--pieces", "abc")
    add("build_corpus", "--data-dir is a file", *t, "--config", "tiny", "--data-dir", file_as_dir)
    add("build_corpus", "--data-dir below a file", *t, "--config", "tiny", "--data-dir", below_file)
    add("build_corpus", "--data-dir read-only", *t, "--config", "tiny", "--data-dir", readonly)
    add("build_corpus", "--data-dir in /proc", *t, "--config", "tiny", "--data-dir", "/proc/mt_music_data")

    t = tool("check_corpus")
    add("check_corpus", "help", *t, "--help", help=True)
    add("check_corpus", "no shards built", *t, "--data-dir", f["data_empty"])
    add("check_corpus", "--shards missing", *t, "--shards", missing)
    add("check_corpus", "--shards empty folder", *t, "--shards", f["empty_dir"])
    add("check_corpus", "--shards not a tar", *t, "--shards", f["image.png"])
    add("check_corpus", "--shards garbage tar", *t, "--shards", f["garbage.tar"])
    add("check_corpus", "--shards truncated tar", *t, "--shards", f["truncated.tar"])
    add("check_corpus", "folder with garbage tar", *t, "--shards", f["shards_garbage"])
    add("check_corpus", "shard with damaged PNG", *t, "--shards", f["shards"])
    add("check_corpus", "--limit 0", *t, "--shards", f["shards"], "--limit", "0")
    add("check_corpus", "--limit -1", *t, "--shards", f["shards"], "--limit", "-1")
    add("check_corpus", "--json is a folder", *t, "--shards", f["shards"], "--json", f["empty_dir"])
    add("check_corpus", "--json missing parent", *t, "--shards", f["shards"], "--json", no_parent)
    add("check_corpus", "unknown config", *t, "--config", "huge")

    t = tool("contact_sheet")
    add("contact_sheet", "help", *t, "--help", help=True)
    add("contact_sheet", "no shards built", *t, "--data-dir", f["data_empty"], "--out", str(tmp / "s.png"))
    add("contact_sheet", "--shards missing", *t, "--shards", missing, "--out", str(tmp / "s.png"))
    add("contact_sheet", "--shards garbage tar", *t, "--shards", f["garbage.tar"], "--out", str(tmp / "s.png"))
    add("contact_sheet", "--shards damaged shard", *t, "--shards", f["shards"], "--out", str(tmp / "s.png"))
    add("contact_sheet", "--count 0", *t, "--shards", f["shards"], "--count", "0", "--out", str(tmp / "s.png"))
    add("contact_sheet", "--split unknown", *t, "--shards", f["shards"], "--split", "dev", "--out", str(tmp / "s.png"))
    add("contact_sheet", "--out is a folder", *t, "--shards", f["shards"], "--out", f["empty_dir"])
    add("contact_sheet", "--out below a file", *t, "--shards", f["shards"], "--out", below_file + ".png")
    add("contact_sheet", "--out not an image", *t, "--shards", f["shards"], "--out", str(tmp / "sheet.txt"))
    add("contact_sheet", "--tfds not built", *t, "--tfds", "tiny", "--data-dir", f["data_empty"],
        "--out", str(tmp / "s.png"))
    add("contact_sheet", "--tfds aborted write", *t, "--tfds", "tiny", "--data-dir", f["data_incomplete"],
        "--out", str(tmp / "s.png"))
    add("contact_sheet", "--tfds unknown config", *t, "--tfds", "gigantic", "--data-dir", f["data_empty"],
        "--out", str(tmp / "s.png"))

    t = tool("corpus_projection")
    add("corpus_projection", "help", *t, "--help", help=True)
    add("corpus_projection", "no summary", *t)
    add("corpus_projection", "missing summary", *t, missing)
    add("corpus_projection", "summary is a folder", *t, f["empty_dir"])
    add("corpus_projection", "bad JSON", *t, f["bad.json"])
    add("corpus_projection", "JSON list", *t, f["list.json"])
    add("corpus_projection", "no collections", *t, f["nocollections.json"])
    add("corpus_projection", "bad entry", *t, f["badentry.json"])
    add("corpus_projection", "binary garbage", *t, f["garbage.bin"])
    add("corpus_projection", "empty file", *t, f["empty.txt"])
    add("corpus_projection", "--variants 0", *t, f["bad.json"], "--variants", "0")

    t = tool("corpus_throughput")
    add("corpus_throughput", "help", *t, "--help", help=True)
    add("corpus_throughput", "--workers 0", *t, "--workers", "0")
    add("corpus_throughput", "--workers -1", *t, "--workers", "-1")
    add("corpus_throughput", "--pieces 0", *t, "--pieces", "0")
    add("corpus_throughput", "unknown composer", *t, "--composers", "Zzyzxquux", "--pieces", "2")
    add("corpus_throughput", "--pieces many", *t, "--pieces", "many")

    t = tool("decode_codec_tokens")
    add("decode_codec_tokens", "help", *t, "--help", help=True)
    add("decode_codec_tokens", "no codec", *t, "--records", f["records.tfrecord"], "--out", out)
    add("decode_codec_tokens", "codec folder missing", *t, "--records", f["records.tfrecord"], "--image-codec",
        missing, "--out", out)
    add("decode_codec_tokens", "codec.json broken", *t, "--records", f["records.tfrecord"], "--image-codec",
        f["codec_bad_json"], "--out", out)
    add("decode_codec_tokens", "codec without checkpoint", *t, "--records", f["records.tfrecord"], "--image-codec",
        f["codec_no_ckpt"], "--out", out)
    add("decode_codec_tokens", "--out is a file", *t, "--records", f["records.tfrecord"], "--image-codec",
        f["codec_bad_json"], "--out", file_as_dir)
    add("decode_codec_tokens", "--limit -1", *t, "--records", f["records.tfrecord"], "--image-codec",
        f["codec_bad_json"], "--out", out, "--limit", "-1")
    add("decode_codec_tokens", "--shift -1", *t, "--records", f["records.tfrecord"], "--image-codec",
        f["codec_bad_json"], "--out", out, "--shift", "-1")

    t = tool("eval_codec")
    add("eval_codec", "help", *t, "--help", help=True)
    add("eval_codec", "no codec", *t)
    add("eval_codec", "codec folder missing", *t, "--image-codec", missing, "--data-dir", f["data_empty"])
    add("eval_codec", "codec.json broken", *t, "--image-codec", f["codec_bad_json"], "--data-dir", f["data_empty"])
    add("eval_codec", "--limit -3", *t, "--image-codec", f["codec_bad_json"], "--limit", "-3")
    add("eval_codec", "--json is a folder", *t, "--image-codec", f["codec_bad_json"], "--json", f["empty_dir"])
    add("eval_codec", "--json missing parent", *t, "--image-codec", f["codec_bad_json"], "--json", no_parent)

    t = tool("export_codec_data")
    add("export_codec_data", "help", *t, "--help", help=True)
    add("export_codec_data", "no --out", *t)
    add("export_codec_data", "corpus not built", *t, "--corpus", "tiny", "--data-dir", f["data_empty"],
        "--out", str(tmp / "x"))
    add("export_codec_data", "aborted TFDS write", *t, "--corpus", "tiny", "--data-dir", f["data_incomplete"],
        "--out", str(tmp / "x.npz"))
    add("export_codec_data", "unknown corpus", *t, "--corpus", "nope", "--data-dir", f["data_empty"],
        "--out", str(tmp / "x.npz"))
    add("export_codec_data", "--out is a folder", *t, "--out", f["empty_dir"])
    add("export_codec_data", "--out missing parent", *t, "--out", no_parent + ".npz")
    add("export_codec_data", "--limit -1", *t, "--limit", "-1", "--out", str(tmp / "x.npz"))

    t = tool("lmx_conformance")
    add("lmx_conformance", "help", *t, "--help", help=True)
    add("lmx_conformance", "--limit 0", *t, "--limit", "0")
    add("lmx_conformance", "--limit -5", *t, "--limit", "-5")
    add("lmx_conformance", "--systems-per-part -1", *t, "--limit", "2", "--systems-per-part", "-1")
    add("lmx_conformance", "--min-tokens 150", *t, "--limit", "2", "--min-tokens", "150")
    add("lmx_conformance", "--flavor unknown", *t, "--flavor", "fancy")

    t = tool("midi_roundtrip_corpus")
    add("midi_roundtrip_corpus", "help", *t, "--help", help=True)
    add("midi_roundtrip_corpus", "unknown composer", *t, "--piece", "zzyzxquux:3")
    add("midi_roundtrip_corpus", "bad count", *t, "--piece", "bach:many")
    add("midi_roundtrip_corpus", "--window-seconds 0", *t, "--window-seconds", "0")
    add("midi_roundtrip_corpus", "--max-shift-steps 0", *t, "--max-shift-steps", "0")
    add("midi_roundtrip_corpus", "--export-dir is a file", *t, "--export-dir", file_as_dir)

    t = tool("bake_codec_tokens")
    add("bake_codec_tokens", "help", *t, "--help", help=True)
    add("bake_codec_tokens", "no codec", *t, "--corpus", "tiny", "--out", out)
    add("bake_codec_tokens", "codec folder missing", *t, "--image-codec", missing, "--corpus", "tiny", "--out", out)
    add("bake_codec_tokens", "codec.json broken", *t, "--image-codec", f["codec_bad_json"], "--corpus", "tiny",
        "--out", out)
    add("bake_codec_tokens", "--examples-per-shard 0", *t, "--image-codec", f["codec_bad_json"], "--corpus", "tiny",
        "--out", out, "--examples-per-shard", "0")
    add("bake_codec_tokens", "--out is a file", *t, "--image-codec", f["codec_bad_json"], "--corpus", "tiny",
        "--out", file_as_dir)
    add("bake_codec_tokens", "--images-dir missing", *t, "--image-codec", f["codec_bad_json"], "--images-dir",
        missing, "--out", out)

    t = tool("benchmark")
    add("benchmark", "help", *t, "--help", help=True)
    add("benchmark", "missing gin file", *t, "--gin_file=no_such.gin")
    add("benchmark", "gin syntax error", *t, f"--gin_file={f['bad.gin']}")
    add("benchmark", "misspelt binding", *t, "--gin_file=models/tiny.gin", "--gin.models.Bogus.size=3")
    add("benchmark", "--batch_size 0", *t, "--gin_file=models/tiny.gin", "--batch_size=0")
    add("benchmark", "--steps -1", *t, "--gin_file=models/tiny.gin", "--steps=-1")
    add("benchmark", "--mesh bad", *t, "--gin_file=models/tiny.gin", "--mesh=a,b,c")
    add("benchmark", "--batch_size abc", *t, "--gin_file=models/tiny.gin", "--batch_size=abc")

    t = tool("benchmark_codec")
    add("benchmark_codec", "help", *t, "--help", help=True)
    add("benchmark_codec", "missing gin file", *t, "--gin_file=no_such.gin")
    add("benchmark_codec", "misspelt binding", *t, "--gin_file=codecs/image_tiny.gin", "--gin.codecs.Bogus.x=1")
    add("benchmark_codec", "--batch_size 0", *t, "--gin_file=codecs/image_tiny.gin", "--batch_size=0")
    add("benchmark_codec", "image window not /16", *t, "--gin_file=codecs/image_tiny.gin", "--window=100",
        "--batch_size=2", "--steps=1")
    return all_cases


# ---------------------------------------------------------------------------------- running
def classify(case: Case, returncode: int | None, stderr: str) -> tuple[str, str]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    if returncode is None:
        return "timeout", last
    if "Traceback (most recent call last)" in stderr:
        return "traceback", last
    if case.help:
        return ("clean" if returncode == 0 else "silent"), last
    if returncode != 0 and last.startswith("error:"):
        return "clean", last
    return "silent", last


def run_case(case: Case, env: dict[str, str], timeout: float, cwd: pathlib.Path) -> Outcome:
    started = time.perf_counter()
    stdin = open(case.stdin, "rb") if case.stdin else subprocess.DEVNULL
    try:
        completed = subprocess.run(case.argv, stdin=stdin, capture_output=True, timeout=timeout, env=env,
                                   cwd=cwd, check=False)
        returncode, stderr = completed.returncode, completed.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as expired:
        returncode, stderr = None, (expired.stderr or b"").decode("utf-8", "replace")
    finally:
        if case.stdin:
            stdin.close()
    verdict, last = classify(case, returncode, stderr)
    return Outcome(case, verdict, returncode, last, time.perf_counter() - started)


def report(outcomes: list[Outcome]) -> str:
    by_cli: dict[str, collections.Counter] = {}
    for outcome in outcomes:
        by_cli.setdefault(outcome.case.cli, collections.Counter())[outcome.verdict] += 1
    verdicts = ("clean", "traceback", "silent", "timeout")
    lines = [f"{'CLI':<24}{'cases':>6}" + "".join(f"{v:>11}" for v in verdicts)]
    for cli, counts in by_cli.items():
        lines.append(f"{cli:<24}{sum(counts.values()):>6}" + "".join(f"{counts[v]:>11}" for v in verdicts))
    totals = collections.Counter(o.verdict for o in outcomes)
    lines.append(f"{'TOTAL':<24}{len(outcomes):>6}" + "".join(f"{totals[v]:>11}" for v in verdicts))
    lines.append(f"\ntotals: {totals['clean']} clean / {totals['traceback']} traceback / {totals['silent']} silent"
                 f" / {totals['timeout']} timeout")
    failing = [o for o in outcomes if o.verdict != "clean"]
    if failing:
        lines.append(f"\nfailing cases ({len(failing)}):")
        for o in failing:
            lines.append(f"  [{o.verdict}] {o.case.cli}: {o.case.name} (exit {o.returncode}): {o.last_line[:160]}")
            lines.append(f"      $ {' '.join(o.case.argv[1:])}" + (f" < {o.case.stdin}" if o.case.stdin else ""))
    lines.append("\nall cases:")
    for o in outcomes:
        lines.append(f"  {o.verdict:<9} {o.seconds:6.1f} s  {o.case.cli}: {o.case.name}: {o.last_line[:140]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", metavar="PATTERN", help="only cases whose CLI or name contains PATTERN")
    parser.add_argument("--jobs", type=int, default=2, help="cases run at a time (default 2)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per case (default 180)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--report", type=pathlib.Path, help="also write the full report here")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.timeout <= 0:
        parser.error("--jobs and --timeout must be positive")
    with tempfile.TemporaryDirectory(prefix="bad_input_sweep_") as scratch:
        tmp = pathlib.Path(scratch)
        (tmp / "fixtures").mkdir()
        fixtures = build_fixtures(tmp / "fixtures")
        selected = [c for c in cases(fixtures, tmp) if not args.only
                    or args.only.lower() in f"{c.cli}: {c.name}".lower()]
        if args.list:
            for case in selected:
                print(f"{case.cli}: {case.name}")
            return 0
        if not selected:
            print(f"error: --only {args.only!r} matches no case (see --list)", file=sys.stderr)
            return 2
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MT_MUSIC_DATA_DIR=fixtures["data_empty"],
                   PYTHONUNBUFFERED="1", JAX_PLATFORMS="cpu")
        env.pop("MT_MUSIC_TRACEBACK", None)
        work = tmp / "cwd"
        work.mkdir()
        print(f"{len(selected)} cases, {args.jobs} at a time ...", file=sys.stderr)
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(run_case, case, env, args.timeout, work) for case in selected]
            outcomes = []
            for future in futures:
                outcome = future.result()
                outcomes.append(outcome)
                print(f"  {outcome.verdict:<9} {outcome.case.cli}: {outcome.case.name}", file=sys.stderr)
    text = report(outcomes)
    print(text)
    if args.report:
        args.report.write_text(text + "\n")
    return 0 if all(o.verdict == "clean" for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
