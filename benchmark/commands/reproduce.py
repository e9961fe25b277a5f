"""`python -m benchmark reproduce --out DIR --cell DATASET/PAIR/METHOD/SEED`: rerun one stored record from its own
config and say whether it comes out identical, or how it differs (accuracy, predictions, teacher). Exit 0 when
identical, 1 when it differs."""
from __future__ import annotations

from pathlib import Path

from ..execution.environment import resolve_device
from ..execution.reproduce import CACHES, Reproduction, cache_folder, find_record, reproduce, spec_of
from ..store.records import RunStore, ensure_writable_dir
from .options import command_line

NAME = "reproduce"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="rerun one stored record from its own config: identical or how it differs")
    p.add_argument("--out", type=Path, default=Path("results"), help="results folder holding the record's runs.jsonl")
    p.add_argument("--cell", required=True, metavar="DATASET/TEACHER:STUDENT/METHOD/SEED",
                   help="the record to rerun, e.g. synth/wrn16_2_tiny:wrn10_2_tiny/adi/0")
    p.add_argument("--config-hash", default=None, help="which record, where the folder holds the cell under several "
                                                       "configs (a prefix of its config_hash)")
    p.add_argument("--cache", default="fresh", choices=CACHES,
                   help="fresh (default): rebuild audio, features and the teacher in an empty cache folder, so a "
                        "teacher that does not reproduce shows; shared: reuse the sweeps' cache ($DFKD_CACHE)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: the record's own, since results depend slightly on it)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    p.add_argument("--data-root", type=Path, default=None, help="folder holding the real datasets")
    p.add_argument("--teacher-checkpoint", type=Path, default=None,
                   help="the file a record made with run --teacher-checkpoint distilled from")


def main(args) -> int:
    store = RunStore(args.out)
    if not store.path.exists():
        raise FileNotFoundError(f"no records at {store.path}; pass --out the folder holding the record's runs.jsonl")
    record = find_record(store, args.cell, args.config_hash)
    spec = spec_of(record, args.data_root, args.teacher_checkpoint)  # a record today's code cannot rerun: said now
    rerun_store = RunStore(ensure_writable_dir(Path(args.out) / "reproduce"))
    device = resolve_device(args.device).type
    with cache_folder(args.cache) as folder:
        rerun = reproduce(record, spec, device, args.threads, command_line(args))
    rerun_store.append(rerun)
    result = Reproduction(record, rerun)
    print(result.report(f"{args.cache} ({folder})"))
    print(f"rerun record: {rerun_store.path}")
    return 0 if result.identical else 1
