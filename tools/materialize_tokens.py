r"""Copies baked token records (TFRecords) into the TensorFlow-free NumPy store.

    python tools/materialize_tokens.py data/tokens/small --out data/store/small

Every `<split>/tokens-NNNNN.tfrecord` under the input becomes `<out>/<split>/tokens-NNNNN.npz`
(`mt_music.data.record_store`), which hosts with JAX and NumPy only (no TensorFlow) train from:
`--gin.token_mixture.from_token_records.pattern="'data/store/small/train/tokens-*.npz'"`.
Shards already there and newer than their TFRecord are kept (resumable); `--overwrite` redoes all.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

from tqdm import tqdm

from mt_music.data import record_store
from mt_music.errors import ArgumentParser, UserError, check_output_dir, main_with_errors


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tokens_dir", help="a bake's --out directory (holds <split>/tokens-*.tfrecord)")
    parser.add_argument("--out", required=True, help="output directory of the NumPy store")
    parser.add_argument("--overwrite", action="store_true", help="rewrite shards that exist")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    source = pathlib.Path(args.tokens_dir)
    shards = sorted(source.glob("*/tokens-*.tfrecord"))
    if not shards:
        raise UserError(f"{source}: no <split>/tokens-*.tfrecord files; bake them with tools/bake_codec_tokens.py")
    out = check_output_dir(args.out, "--out")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mt_music.data import token_records  # TensorFlow, only once there is work
    written = kept = records = 0
    for shard in tqdm(shards, desc="materialize", unit="shard"):
        target = out / shard.parent.name / shard.with_suffix(".npz").name
        if not args.overwrite and target.exists() and target.stat().st_mtime >= shard.stat().st_mtime:
            kept += 1
            continue
        records += record_store.write_shard(token_records.read(str(shard)), target)
        written += 1
    print(f"{written} shards written ({records} records), {kept} kept → {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main_with_errors(main))
