"""The Markdown tables: the leaderboard (``scores.md``), low-resource ASR, and one per study.

Every table carries the leaderboard's columns (parameters, MACs on 10 s of audio, overall, SUPERB score
and, where the five tasks are shown, retention per task), names its reference rows and says which score
it ranks by. A score measured under an earlier config of its task is marked ``†``, and so is every
summary it enters, its own row's or, through a reference row, every row's. A score over several probe
seeds reads ``mean ± sd`` (seeds.py), and a note says how many seeds each row's scores are over; the
"measured on" cell also says what the row's probes ran with (device, torch threads and version).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .columns import COLUMN_OF, EXTRA_COLUMNS, SUPERB_COLUMNS, ScoreColumn
from .leaderboard import (
    OVERALL,
    PRESET_REFERENCES,
    SUPERB_SCALE,
    SUPERB_SCORE,
    References,
    backward_tasks,
    benchmark_name,
    margin,
    narrow_tasks,
    ranking_score,
    ranks,
    task_value,
    with_leaderboard_columns,
)
from .probe_env import DEVICE_KEY, THREADS_KEY, TORCH_KEY
from .protocol import PROTOCOL_THREADS
from .report import atomic_write
from .rows import stale_tasks
from .seeds import FLAG as SEEDS_FLAG
from .seeds import S3PRL_DEFAULT_SEED, SEEDS_COLUMN, parse_seed_counts

STALE_MARK = "†"
LOW_RESOURCE_FILE = "low_resource_asr.md"
SUPERB_TASKS = frozenset(column.name for column in SUPERB_COLUMNS)
RANK_NAMES = {SUPERB_SCORE: "SUPERB score", OVERALL: "overall"}
#: the low-resource table's question is ASR on a tenth of the data; CER still ranks where WER saturates
LOW_RESOURCE_RANK = COLUMN_OF["asr_low"].cer_column
LOW_RESOURCE_SETTINGS = {"asr": "full, frozen", "asr_low": "1/10, frozen", "asr_low_ft": "1/10, fine-tuned"}


class _Marks:
    """Which cells of a row to mark ``†``: its own stale tasks, and for the SUPERB score and retention
    also those of the reference rows."""

    def __init__(self, rows: List[dict], references: References, current: Optional[Dict[str, str]]):
        by_name = {row["upstream"]: row for row in rows}
        self.current = current
        self.reference_stale = set().union(
            *(stale_tasks(by_name.get(name, {}), current) for name in (references.baseline, references.reference)))

    def own(self, row: dict) -> set:
        return stale_tasks(row, self.current)

    def leaderboard(self, row: dict) -> set:
        return (self.own(row) | self.reference_stale) & SUPERB_TASKS


def _value(row: dict, column: str, stale: bool = False) -> str:
    value = str(row.get(column, ""))
    return value + STALE_MARK if stale and value != "" else value


def _with_sd(row: dict, column: str, sd_column: str) -> str:
    """``45.36``, or ``45.36 ± 0.90`` for a score over several probe seeds."""
    value, sd = str(row.get(column, "")), row.get(sd_column, "")
    return f"{value} ± {float(sd):.2f}" if value != "" and sd not in ("", None) else value


def _score(row: dict, column: ScoreColumn, stale: bool = False) -> str:
    text = _with_sd(row, column.column, column.sd_column)
    return text + STALE_MARK if stale and text != "" else text


def _wer_cer(row: dict, column: ScoreColumn, stale: bool = False) -> str:
    wer, cer = _with_sd(row, column.column, column.sd_column), _with_sd(row, column.cer_column, column.cer_sd_column)
    text = f"{wer} / {cer}" if wer != "" and cer != "" else str(wer)
    return text + STALE_MARK if stale and text != "" else text


def _probe(row: dict) -> str:
    """What the row's probes ran with, as far as recorded: ``cpu, 2 threads, torch 2.5.1``."""
    parts = [row.get(DEVICE_KEY, ""), f"{row[THREADS_KEY]} threads" if row.get(THREADS_KEY, "") != "" else "",
             f"torch {row[TORCH_KEY]}" if row.get(TORCH_KEY, "") != "" else ""]
    return ", ".join(part for part in parts if part)


def _stamp(row: dict) -> str:
    if not row:
        return "not measured yet"
    probe = _probe(row)
    return f"{row.get('machine', '')}, {row.get('date', '')}" + (f"; probes: {probe}" if probe else "")


def _summary_cells(row: dict, marks: _Marks, retention: bool = True) -> List[str]:
    """overall, SUPERB score and (optionally) the five retentions, each marked when a score it is made of
    predates its task's config."""
    own, board = marks.own(row) & SUPERB_TASKS, marks.leaderboard(row)
    cells = [_value(row, OVERALL, bool(own)), _value(row, SUPERB_SCORE, bool(board))]
    if retention:
        cells += [_value(row, column.retention_column, column.name in board) for column in SUPERB_COLUMNS]
    return cells


def _superb_task_cells(row: dict, stale: set, asr_with_cer: bool = False) -> List[str]:
    cells = []
    for column in SUPERB_COLUMNS:
        if asr_with_cer and column.cer_column:
            cells.append(_wer_cer(row, column, column.name in stale))
        else:
            cells.append(_score(row, column, column.name in stale))
    return cells


def _leaderboard_header(with_retention: bool = True) -> List[str]:
    retention = [f"{column.name.upper()} retention %" for column in SUPERB_COLUMNS] if with_retention else []
    return [f"{OVERALL} ↑", "SUPERB score ↑", *retention]


def _ranked_order(rows: List[dict], places: Dict[str, int]) -> List[dict]:
    """Ranked rows best first, then the unranked ones in the table's order."""
    return sorted(rows, key=lambda row: places.get(row["upstream"], len(rows) + 1))


MEASURE_NOTE = ("params: every parameter the upstream holds, in millions. MACs: multiply-accumulates of the "
                "upstream's forward on 10 s of audio, in billions (torch.utils.flop_counter.FlopCounterMode, "
                "MACs = FLOPs / 2: matrix products, convolutions and attention; element-wise work and FFTs not "
                "counted).")


PROBE_NOTE = ("measured on: the machine and date, then what the row's task probes ran with, as recorded: the "
              "device, torch's thread count and torch's version, each of which changes a probe's floating-point "
              f"path. The thread count is part of the protocol (`--probe-threads`); a row that does not say it ran "
              f"{PROTOCOL_THREADS} threads, the protocol's implicit default.")


def _seed_counts(row: dict) -> str:
    """``3``, or per task (``ks 3, pr 2``) where the row's scored tasks differ in their number of seeds."""
    counts = parse_seed_counts(row.get(SEEDS_COLUMN))
    scored = [column.name for column in COLUMN_OF.values() if row.get(column.column, "") != ""]
    per_task = {task: counts.get(task, 1) for task in scored}
    if len(set(per_task.values())) == 1:
        return str(next(iter(per_task.values())))
    return ", ".join(f"{task} {n}" for task, n in per_task.items())


def _seed_note(rows: List[dict]) -> List[str]:
    """How many probe seeds the scores shown ``mean ± sd`` are over, per row (none when no row has any)."""
    seeded = [row for row in rows if row and parse_seed_counts(row.get(SEEDS_COLUMN))]
    if not seeded:
        return []
    said = "; ".join(f"`{row['upstream']}` {_seed_counts(row)}" for row in seeded)
    return [f"A score shown `mean ± sd` is the mean over several trainings of its probe (`{SEEDS_FLAG}`, s3prl "
            f"seeds {S3PRL_DEFAULT_SEED}, {S3PRL_DEFAULT_SEED + 1}, ...) ± their sample standard deviation; overall, "
            f"SUPERB score and retention are made from the means. Seeds per row: {said}. A score without ± is one "
            "training, which another seed would move by about the ± of its task; the paired tests of `--compare` "
            "weigh that only where a row has several seeds."]


def _higher_is_better_name(column: ScoreColumn) -> str:
    return f"100 − {column.task.metric.upper()}" if column.error_rate else column.task.metric


def _superb_notes(rows: List[dict], references: References) -> List[str]:
    """What overall, the SUPERB score and retention are, which rows fix the SUPERB scale, and the tasks on
    which that scale runs backwards."""
    base, ref = references.baseline, references.reference
    lines = [f"overall = mean(100 − PER, 100 − WER, KS, SID, ER). SUPERB score = the leaderboard's: per task "
             f"1000 × (score − {base}) / ({ref} − {base}), error rates as 100 − error, averaged over the five "
             f"tasks; reference rows: `{base}` = 0 and `{ref}` = 1000 ({references.reference_is}). Retention per task "
             f"= (score − {base}) / ({ref} − {base}), in percent."]
    by_name = {row["upstream"]: row for row in rows}
    baseline, reference = by_name.get(base, {}), by_name.get(ref, {})
    for column in backward_tasks(baseline, reference):
        lines.append(
            f"On {column.name.upper()} `{ref}` does not beat `{base}` ({_higher_is_better_name(column)} "
            f"{task_value(reference, column):.2f} vs {task_value(baseline, column):.2f}), so "
            f"that task's scale runs backwards: a retention above 0 there is a score below {base}'s.")
    for column in narrow_tasks(baseline, reference):
        points = margin(baseline, reference, column)
        lines.append(
            f"On {column.name.upper()} `{ref}` beats `{base}` by only {points:.2f} points, so one point there moves "
            f"a retention by {100 / points:.0f} % and the SUPERB score by {SUPERB_SCALE / points / len(SUPERB_COLUMNS):.0f}.")
    return lines


def _rank_note(by: str, within: str = "") -> str:
    missing = " (no row has a SUPERB score: it needs both reference rows scored on every task)" if by == OVERALL else ""
    return f"Ranked by {RANK_NAMES[by]}{within}{missing}."


def _stale_note(preset: str, stale: set) -> List[str]:
    if not stale:
        return []
    tasks = ", ".join(sorted(stale))
    return ["", f"{STALE_MARK} scored under an earlier config of its task ({tasks}; the configs are in "
            f"downstream_configs/{preset}/), so not comparable with the unmarked scores of that task; a summary "
            f"marked so has such a score in it (its own, or a reference row's). Re-scored by "
            f"`python run_benchmark.py --preset {preset} --student ROW` (or `-u ROW`) with `--tasks` naming the task."]


def _write(path: Path, lines: List[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n"))
    return path


def _table(header: Sequence[str]) -> List[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]


def _with_references(rows: List[dict], preset: str, references: Optional[References]):
    references = references or PRESET_REFERENCES[preset]
    return with_leaderboard_columns(rows, references), references


def write_leaderboard(rows: List[dict], path: Path, preset: str, current: Optional[Dict[str, str]] = None,
                      references: Optional[References] = None) -> Path:
    """``scores.md``: every row, ranked (``current``: task -> digest of its config now, to mark the scores
    measured under another; ``references``: default, the preset's)."""
    rows, references = _with_references(rows, preset, references)
    marks, by = _Marks(rows, references, current), ranking_score(rows)
    places = ranks(rows, by)
    header = ["rank", "upstream", "params (M)", "MACs (G)", *(c.header for c in SUPERB_COLUMNS),
              *_leaderboard_header(), "measured on"]
    lines = [
        f"# {benchmark_name(preset)} scores, preset `{preset}`",
        "",
        f"Written by `python run_benchmark.py --preset {preset}`; frozen upstreams, s3prl task experts, every "
        "hidden state layer-normalised before the featurizer's weighted sum (`--upstream_feature_normalize`). "
        "Each row was measured on its own machine and date.",
        MEASURE_NOTE,
        PROBE_NOTE,
        *_seed_note(rows),
        *_superb_notes(rows, references),
        _rank_note(by),
        "",
        *_table(header),
    ]
    all_stale = set()
    for row in _ranked_order(rows, places):
        own = marks.own(row) & SUPERB_TASKS
        all_stale |= marks.leaderboard(row)
        cells = [str(places.get(row["upstream"], "–")), str(row.get("upstream", "")), _value(row, "params_m"),
                 _value(row, "macs_g"), *_superb_task_cells(row, own), *_summary_cells(row, marks), _stamp(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return _write(path, lines + _stale_note(preset, all_stale))


def write_low_resource(rows: List[dict], path: Path, preset: str, current: Optional[Dict[str, str]] = None,
                       references: Optional[References] = None) -> Path:
    """ASR WER / CER with all of train-clean-100 vs a tenth of it, frozen and fine-tuned (Wang et al. 2022),
    for the rows that have a low-resource score."""
    rows, references = _with_references(rows, preset, references)
    low = [row for row in rows if any(row.get(c.column, "") != "" for c in EXTRA_COLUMNS)]
    marks = _Marks(rows, references, current)
    places = ranks(low, LOW_RESOURCE_RANK, lower_is_better=True)
    header = ["rank", "upstream", "params (M)", "MACs (G)",
              *(f"WER / CER {name} ↓" for name in LOW_RESOURCE_SETTINGS.values()),
              *_leaderboard_header(with_retention=False), "measured on"]
    lines = [
        f"# Low-resource ASR, preset `{preset}`",
        "",
        f"Written by `python run_benchmark.py --preset {preset} --tasks asr_low,asr_low_ft ...`. WER / CER on "
        "test-clean (s3prl's asr expert, char CTC, no LM; CER is its `uer`); `full`: the ASR task's "
        "train-clean-100, `1/10`: every 10th of its utterances; `frozen`: SUPERB protocol; `fine-tuned`: the "
        "upstream trains with the downstream (s3prl -f). On the mini corpus WER sits near 100, so CER ranks better.",
        MEASURE_NOTE,
        PROBE_NOTE,
        *_seed_note(low),
        *_superb_notes(rows, references),
        "Ranked by the CER of ASR on 1/10, frozen (rows without it: unranked, last).",
        "",
        *_table(header),
    ]
    all_stale = set()
    for row in _ranked_order(low, places):
        stale = marks.own(row)
        all_stale |= (stale & set(LOW_RESOURCE_SETTINGS)) | (marks.leaderboard(row))
        cells = [str(places.get(row["upstream"], "–")), str(row.get("upstream", "")), _value(row, "params_m"),
                 _value(row, "macs_g"),
                 *(_wer_cer(row, COLUMN_OF[task], task in stale) for task in LOW_RESOURCE_SETTINGS),
                 *_summary_cells(row, marks, retention=False), _stamp(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return _write(path, lines + _stale_note(preset, all_stale))


#: columns a study table adds when any of its rows has them: (header, CSV column, its task or None)
STUDY_EXTRA_COLUMNS = [
    ("ASR 1/10 frozen WER / CER ↓", COLUMN_OF["asr_low"]),
    ("ASR 1/10 fine-tuned WER / CER ↓", COLUMN_OF["asr_low_ft"]),
    ("speed vs teacher (this run)", None),
]
SPEED_COLUMN = "speedup_vs_teacher"


def write_study_table(study, rows: List[dict], path: Path, preset: str, current: Optional[Dict[str, str]] = None,
                      references: Optional[References] = None) -> Path:
    """``results/<preset>/<study>.md``: a study's rows (``study.rows``: name -> description) from the score
    table (``rows``: all of it, for the reference rows), in the study's order, ranked within the study.
    The low-resource ASR and speed columns appear when a row has them."""
    rows, references = _with_references(rows, preset, references)
    by_name = {row["upstream"]: row for row in rows}
    study_rows = [by_name.get(name, {}) for name in study.rows]
    marks, by = _Marks(rows, references, current), ranking_score([r for r in study_rows if r])
    places = ranks([r for r in study_rows if r], by)
    extra = [(head, column) for head, column in STUDY_EXTRA_COLUMNS
             if any(r.get(column.column if column else SPEED_COLUMN, "") != "" for r in study_rows)]
    header = ["row", "what", "rank", "params (M)", "MACs (G)", "PR PER ↓", "ASR WER / CER ↓", "KS acc ↑",
              "SID acc ↑", "ER acc ↑", *_leaderboard_header(), *(head for head, _ in extra), "measured on"]
    lines = [
        f"# {study.title}",
        "",
        f"Written by `python run_benchmark.py --preset {preset} --study {study.name}`; frozen upstreams "
        "(except fine-tuned columns), s3prl task experts; students distilled from the preset's teacher by "
        "`pretrain/students.yaml`. The speed column is the teacher's time / the row's time on 10 s of audio, "
        "measured inside the benchmark run that scored the row (results/speed.md has the side-by-side runs).",
        MEASURE_NOTE,
        PROBE_NOTE,
        *_seed_note(study_rows),
        *_superb_notes(rows, references),
        _rank_note(by, " within the study; rows in the study's order"),
        "",
        *_table(header),
    ]
    all_stale = set()
    for (name, description), row in zip(study.rows.items(), study_rows):
        stale = marks.own(row) if row else set()
        all_stale |= stale | (marks.leaderboard(row) if row else set())
        cells = [name, description, str(places.get(name, "–")), _value(row, "params_m"), _value(row, "macs_g"),
                 *_superb_task_cells(row, stale & SUPERB_TASKS, asr_with_cer=True),
                 *(_summary_cells(row, marks) if row else [""] * (2 + len(SUPERB_COLUMNS))),
                 *(_wer_cer(row, column, column.name in stale) if column else _value(row, SPEED_COLUMN)
                   for _, column in extra),
                 _stamp(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return _write(path, lines + _stale_note(preset, all_stale))
