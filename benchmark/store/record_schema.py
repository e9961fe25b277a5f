"""The typed schema of a run record: one line of `runs.jsonl`, written and read only through `RunRecord`.

Versions (the `schema_version` key):
- 1: the dict `run_cell` wrote before this schema existed. It has no `schema_version` key; a failed cell
  has no outcome keys, and the oldest records lack `torch_threads`, `executor` and `worker_pid`.
- 2: the same keys, with `schema_version`, and every field written (null or empty where a cell has no value),
  so a line shows the whole schema.
- 3: adds `data_key`, the feature cache entry the cell's data came from (dataset name, hash of the audio
  content, front end), so results on different data never look alike. Older records read with data_key None:
  which data they ran on is not known.
- 4: adds what changes floats on a GPU and how the GPU was held: `cuda` (torch's CUDA and cuDNN versions,
  the driver, the GPU's name, UUID and MIG slice; environment.CudaFacts), `numerics` (TF32 and determinism
  flags as torch had them; numerics.NumericsState), `gpus_per_cell` (the share of a GPU the cell was given:
  0 on CPU) and `gpu_shared` (whether other cells could run on the same GPU at once; None on CPU). Older
  records read with these empty or None: not known.
- 5: adds the teacher a cell used: `teacher_checkpoint` (SHA-256 of the `run --teacher-checkpoint` file; None:
  the teacher was trained by the harness, from its cache) and the teacher's `teacher_val_accuracy` and
  `teacher_accuracy` (test, %) on the cell's data, so Table 2 shows the Teacher beside data-free rows run without
  the `teacher` method. Older records read with them None: not known (methods without a teacher have None too).
- 6: adds `teacher_sha256`, the content hash of the teacher's weights the cell used (trained here or given;
  checkpoints.model_io.weights_sha256), so seed-paired comparisons pair only records of one teacher, and the
  student at the end of the budget beside the one selected on validation: `final_accuracy`,
  `final_val_accuracy`. A diverged cell (a non-finite loss) is scored as the constant predictor its non-finite
  outputs give under argmax (class 0 for every clip): it stores that accuracy and those predictions, so the
  reports count it as a run of the method (`RunRecord.counted`). Older records read with these None.

Reading is lenient where that is safe and strict where a report would silently go wrong: optional fields may
be missing (they take their defaults), and keys this code does not know (from a newer writer) are kept in
`other` and written back unchanged; a missing identity key or status, a value of the wrong type, or an ok
record without an accuracy raises `MalformedRecord`, naming the key.
Values are checked for sense too (`_sense_problems`), since a report would otherwise average them: an accuracy
(test, validation, per kind) is a finite number in [0, 100]; the per-clip lists (ids, targets, predictions) that
are there have one entry per test clip each, and an ok record's accuracy is the one its targets and predictions imply; the
schema version is one this code knows (1 up to SCHEMA_VERSION: a record of a newer writer is not read as this
one's). The store skips a record that fails with a warning naming its line and the reason.
"""
from __future__ import annotations

import math
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Mapping, Union

SCHEMA_VERSION = 6
STATUSES = ("ok", "failed", "diverged")  # what run_cell writes; `ok` and `counted` say how readers take each


class MalformedRecord(ValueError):
    """A record that does not fit the schema; the message names the key(s) at fault."""


@dataclass(frozen=True)
class RunRecord:
    """One sweep cell's result. Field order: identity, provenance, outcome, cost."""

    # identity: the grid cell (with config_hash, its key in the store; see records.cell_key)
    dataset: str
    teacher: str
    student: str
    pair: str  # "teacher:student"; derived from them when a stored record lacks it
    method: str
    seed: int
    preset: str
    status: str  # one of STATUSES
    # what ran, where, and when
    config: dict[str, Any] = field(default_factory=dict)
    config_hash: str = ""
    git_commit: str | None = None
    packages: dict[str, str] = field(default_factory=dict)
    device: str | None = None
    cuda: dict[str, Any] = field(default_factory=dict)  # environment.CudaFacts.as_dict(); {} before v4
    numerics: dict[str, Any] = field(default_factory=dict)  # numerics.NumericsState.as_dict(); {} before v4
    command: str | None = None
    dataset_description: dict[str, Any] = field(default_factory=dict)
    data_key: str | None = None  # feature_cache.features_key of the data: name, audio content hash, front end
    started_at: str | None = None  # ISO 8601, UTC
    finished_at: str | None = None
    # outcome of an ok cell
    accuracy: float | None = None  # test accuracy (%); None unless ok
    val_accuracy: float | None = None
    accuracy_by_kind: dict[str, float] = field(default_factory=dict)  # "TD"/"TID" -> accuracy (%)
    test_ids: list[str] = field(default_factory=list)
    test_targets: list[int] = field(default_factory=list)
    test_predictions: list[int] = field(default_factory=list)
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)  # phase -> PhaseStats.as_dict()
    extras: dict[str, Any] = field(default_factory=dict)  # method-specific facts (pool size, teacher cached, ...)
    # the teacher the cell used (v5): the given checkpoint's SHA-256 (None: trained here) and its accuracies (%)
    teacher_checkpoint: str | None = None
    teacher_val_accuracy: float | None = None
    teacher_accuracy: float | None = None  # test split
    # (v6) the content hash of the teacher's weights; the student at the end of the budget (beside `accuracy`,
    # the one selected on validation)
    teacher_sha256: str | None = None
    final_accuracy: float | None = None
    final_val_accuracy: float | None = None
    # outcome of a failed or diverged cell
    error: str | None = None
    traceback: str | None = None
    # cost, and the process that ran the cell (set by the job runner)
    wall_seconds: float | None = None
    peak_memory_mb: float | None = None
    torch_threads: int | None = None
    executor: str | None = None
    worker_pid: int | None = None
    gpus_per_cell: float | None = None  # the share of one GPU the cell was given (0: a CPU cell)
    gpu_shared: bool | None = None  # other cells could use the same GPU at once (a fraction, or --jobs > GPUs)
    schema_version: int = SCHEMA_VERSION  # the version the record was written with
    other: dict[str, Any] = field(default_factory=dict)  # keys this schema does not know, kept as read

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def counted(self) -> bool:
        """A run of the method in the statistics: ok, or diverged and scored (the rule: stats.claims.RUN_RULE)."""
        return self.ok or (self.status == "diverged" and self.accuracy is not None and bool(self.test_predictions))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        """A stored record (any version up to this one's; a newer one's unknown keys go to `other`)."""
        if not isinstance(data, Mapping):
            raise MalformedRecord(f"a record is a JSON object, got {type(data).__name__}")
        missing = [name for name in REQUIRED if name not in data]
        if missing:
            raise MalformedRecord(f"record {_identity(data)} lacks required key(s): {', '.join(missing)}")
        values = {"schema_version": 1, "pair": f"{data['teacher']}:{data['student']}", **data}
        known = {name: values.pop(name) for name in list(values) if name in HINTS}
        problems = [f"{name} must be {_type_name(HINTS[name])}, got {_describe(value)}"
                    for name, value in known.items() if not _accepts(HINTS[name], value)]
        if not problems and known["status"] == "ok" and known.get("accuracy") is None:
            problems.append("an ok record needs an accuracy")
        if not problems:
            problems = _sense_problems(known)
        if problems:
            raise MalformedRecord(f"record {_identity(data)}: " + "; ".join(problems))
        return cls(**known, other=values)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object stored for this record: every field, then `other`'s keys (never overriding a field)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "other"}
        return {**self.other, **out}


HINTS: dict[str, Any] = {name: hint for name, hint in typing.get_type_hints(RunRecord).items() if name != "other"}
# Fields without a default, less `pair` (derivable): a stored record must have these keys.
REQUIRED = tuple(f.name for f in fields(RunRecord)
                 if f.default is MISSING and f.default_factory is MISSING and f.name != "pair")


def as_record(value: RunRecord | Mapping[str, Any]) -> RunRecord:
    """A RunRecord from either form, for callers that still hold stored dicts (`RunStore.read()`)."""
    return value if isinstance(value, RunRecord) else RunRecord.from_dict(value)


def _accepts(hint: Any, value: Any) -> bool:
    """Whether a JSON value fits a field's annotation (containers are checked by their outer type only)."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_accepts(arg, value) for arg in typing.get_args(hint))
    if hint is Any:
        return True
    if isinstance(value, bool) and hint is not bool:
        return False  # JSON true is not a seed or an accuracy
    if hint is float:
        return isinstance(value, (int, float))
    return isinstance(value, origin or hint)


def _type_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _identity(data: Mapping[str, Any]) -> str:
    """As much of a record's cell as it has, to say which record is at fault."""
    parts = [str(data[k]) for k in ("dataset", "pair", "method") if k in data]
    seed = f"seed={data['seed']}" if "seed" in data else ""
    return "(" + " ".join(filter(None, [*parts, seed])) + ")" if parts or seed else "(no identity keys)"


ACCURACY_TOLERANCE = 0.01  # pp: a stored accuracy is float32's mean of the per-clip hits (error ~1e-5 pp)


def _sense_problems(known: Mapping[str, Any]) -> list[str]:
    """What makes a well-typed record impossible: an accuracy that is not a finite percentage, per-clip lists of
    different lengths or an accuracy they do not imply, a schema version this code does not know."""
    problems = []
    version = known.get("schema_version", 1)
    if not 1 <= version <= SCHEMA_VERSION:
        problems.append(f"schema_version {version} is not one this code reads (1 to {SCHEMA_VERSION}); a newer "
                        "writer made it: update the code to read it")
    named = [("accuracy", known.get("accuracy")), ("val_accuracy", known.get("val_accuracy")),
             ("teacher_accuracy", known.get("teacher_accuracy")),
             ("final_accuracy", known.get("final_accuracy")), ("final_val_accuracy", known.get("final_val_accuracy")),
             ("teacher_val_accuracy", known.get("teacher_val_accuracy")),
             *((f"accuracy_by_kind[{kind!r}]", value) for kind, value in (known.get("accuracy_by_kind") or {}).items())]
    for name, value in named:
        if value is None:
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            problems.append(f"{name} is {value!r}, not a finite number")
        elif not 0.0 <= value <= 100.0:
            problems.append(f"{name} {value!r} is outside [0, 100] (a percentage)")
    lists = {name: known.get(name) or [] for name in ("test_ids", "test_targets", "test_predictions")}
    lengths = {name: len(values) for name, values in lists.items()}
    if len({n for n in lengths.values() if n}) > 1:  # a list left empty holds nothing to misalign
        problems.append("per-clip lists differ in length (" + ", ".join(f"{n} {k}" for n, k in lengths.items())
                        + "): a paired test would compare different clips")
    elif not all(isinstance(v, int) and not isinstance(v, bool) for n in ("test_targets", "test_predictions")
                 for v in lists[n]):
        problems.append("test_targets and test_predictions must hold class indices (integers)")
    elif known.get("status") in ("ok", "diverged") and known.get("accuracy") is not None and lengths["test_targets"] \
            and not problems:
        hits = sum(t == p for t, p in zip(lists["test_targets"], lists["test_predictions"]))
        implied = 100.0 * hits / lengths["test_targets"]
        if abs(implied - known["accuracy"]) > ACCURACY_TOLERANCE:
            problems.append(f"accuracy {known['accuracy']!r} is not what its predictions imply ({hits} of "
                            f"{lengths['test_targets']} clips right: {implied:.2f})")
    return problems
