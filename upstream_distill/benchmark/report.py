"""Score tables: one row per upstream, written as CSV, Markdown and a PNG plot.

`overall` is the plain mean of (100 - PER, 100 - WER, KS acc, SID acc, ER acc), the form
STaR and ARMHuBERT report. Rows accumulate across benchmark invocations: a new run of an
upstream replaces its row, other rows stay. Every row says the preset, machine and date
it was measured on, and which config of each task (its protocol digest, see runs.task_protocol)
each score was measured under: after a task's config changes, the tables mark the scores of the
rows not yet re-scored with `†` instead of ranking them beside the new ones unannounced.
"""
from __future__ import annotations

import csv
import fcntl
import os
import platform
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Dict, Iterable, List, Optional

TASK_COLUMNS = {"pr": "pr_per", "asr": "asr_wer", "ks": "ks_acc", "sid": "sid_acc", "er": "er_acc"}
#: scored when asked for (--tasks), outside the overall score: low-resource ASR, frozen and fine-tuned
EXTRA_COLUMNS = {"asr_low": "asr_low_wer", "asr_low_ft": "asr_low_ft_wer"}
#: character error rates of the ASR tasks, kept beside their WER (outside the overall score)
CER_COLUMNS = {"asr": "asr_cer", "asr_low": "asr_low_cer", "asr_low_ft": "asr_low_ft_cer"}
ERROR_RATE_COLUMNS = {"pr_per", "asr_wer"}
COLUMNS = ["upstream", "params_m", *TASK_COLUMNS.values(), "overall", "preset", "machine", "date"]
LOW_RESOURCE_FILE = "low_resource_asr.md"
#: the task-config digest each task's score was measured under, as "pr=<digest>;ks=<digest>;..."
PROTOCOL_COLUMN = "task_protocols"
STALE_MARK = "†"


def parse_protocols(text: Optional[str]) -> Dict[str, str]:
    return dict(item.split("=", 1) for item in (text or "").split(";") if "=" in item)


def format_protocols(protocols: Dict[str, str]) -> str:
    return ";".join(f"{task}={digest}" for task, digest in sorted(protocols.items()))


def stale_tasks(row: dict, current: Optional[Dict[str, str]]) -> set:
    """Tasks of ``row`` scored under another config than ``current`` (task -> digest of the config now);
    a score whose protocol was never recorded is not called stale."""
    recorded = parse_protocols(row.get(PROTOCOL_COLUMN))
    return {task for task, digest in recorded.items() if current and task in current and current[task] != digest}


def _cell(row: dict, column: str, stale: bool) -> str:
    value = str(row.get(column, ""))
    return value + STALE_MARK if stale and value != "" else value


def _stale_note(preset: str, stale: set) -> List[str]:
    if not stale:
        return []
    tasks = ", ".join(sorted(stale))
    return ["", f"{STALE_MARK} scored under an earlier config of its task ({tasks}; the configs are in "
            f"downstream_configs/{preset}/), so not comparable with the unmarked scores of that task. Re-scored by "
            f"`python run_benchmark.py --preset {preset} --student ROW` (or `-u ROW`) with `--tasks` naming the task."]


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import torch

    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{cpu} x{os.cpu_count()} cores{gpu}, torch {torch.__version__}"


def overall_score(row: Dict[str, object]) -> Optional[float]:
    values = []
    for column in TASK_COLUMNS.values():
        value = row.get(column)
        if value in (None, ""):
            return None
        value = float(value)
        values.append(100.0 - value if column in ERROR_RATE_COLUMNS else value)
    return sum(values) / len(values)


def make_row(upstream: str, params_m: float, task_percents: Dict[str, float], preset: str,
             task_cers: Optional[Dict[str, float]] = None, task_protocols: Optional[Dict[str, str]] = None) -> dict:
    row = {"upstream": upstream, "params_m": round(params_m, 2), "preset": preset,
           "machine": machine_description(), "date": date.today().isoformat()}
    if task_protocols:
        row[PROTOCOL_COLUMN] = format_protocols(task_protocols)
    for task, column in TASK_COLUMNS.items():
        value = task_percents.get(task)
        row[column] = "" if value is None else round(value, 2)
    overall = overall_score(row)
    row["overall"] = "" if overall is None else round(overall, 2)
    for task, column in EXTRA_COLUMNS.items():
        if task in task_percents:
            row[column] = round(task_percents[task], 2)
    for task, column in CER_COLUMNS.items():
        if task in (task_cers or {}):
            row[column] = round(task_cers[task], 2)
    return row


def merge_task_scores(old: Optional[dict], new: dict, measured: Iterable[str] = ()) -> dict:
    """``new`` over ``old`` of the same upstream, keeping the old scores of tasks that this run did
    not measure (a run of --tasks asr_low must not erase the SUPERB columns measured before) when
    both were measured on the same machine; a row never mixes machines. A task in ``measured`` that
    did not finish stays empty: its old score may come from an older task config."""
    if not old or old.get("machine") != new.get("machine"):
        return new
    merged, measured = dict(new), set(measured)
    protocols, old_protocols = parse_protocols(new.get(PROTOCOL_COLUMN)), parse_protocols(old.get(PROTOCOL_COLUMN))
    for task, column in [*TASK_COLUMNS.items(), *EXTRA_COLUMNS.items(), *CER_COLUMNS.items()]:
        if task not in measured and merged.get(column, "") == "" and old.get(column, "") != "":
            merged[column] = old[column]
            if task in old_protocols:
                protocols.setdefault(task, old_protocols[task])
    if protocols:
        merged[PROTOCOL_COLUMN] = format_protocols(protocols)
    overall = overall_score(merged)
    merged["overall"] = "" if overall is None else round(overall, 2)
    return merged


def read_rows(csv_path: Path) -> List[dict]:
    if not csv_path.is_file():
        return []
    with open(csv_path, newline="") as fh:
        return list(csv.DictReader(fh))


def merge_rows(old: List[dict], new: List[dict], measured: Iterable[str] = ()) -> List[dict]:
    """New rows replace old rows of the same upstream (keeping the scores of tasks not in
    ``measured``, see merge_task_scores); order: old order, then new upstreams."""
    by_name = {row["upstream"]: row for row in old}
    order = [row["upstream"] for row in old]
    for row in new:
        if row["upstream"] not in by_name:
            order.append(row["upstream"])
        by_name[row["upstream"]] = merge_task_scores(by_name.get(row["upstream"]), row, measured)
    return [by_name[name] for name in order]


@contextmanager
def table_lock(out_dir: Path):
    """Holds ``out_dir/.scores.lock`` exclusively: a read-merge-write of the score table inside it never
    loses the rows another benchmark command wrote in between."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".scores.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def atomic_write(path: Path, write) -> None:
    """``write(tmp)`` then rename over ``path``: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def write_csv(rows: List[dict], path: Path) -> None:
    extra = [c for row in rows for c in row if c not in COLUMNS]
    columns = COLUMNS + list(dict.fromkeys(extra))

    def write(tmp):
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def _row_cells(row: dict, stale: set) -> List[str]:
    """The five SUPERB cells and overall, each marked when its score predates its task's config."""
    cells = [_cell(row, column, task in stale) for task, column in TASK_COLUMNS.items()]
    return cells + [_cell(row, "overall", bool(stale & set(TASK_COLUMNS)))]


def write_markdown(rows: List[dict], path: Path, preset: str, current: Optional[Dict[str, str]] = None) -> None:
    header = ["upstream", "params (M)", "PR PER ↓", "ASR WER ↓", "KS acc ↑", "SID acc ↑", "ER acc ↑", "overall ↑"]
    lines = [
        f"# Mini-SUPERB scores, preset `{preset}`",
        "",
        "Written by `python run_benchmark.py --preset " + preset + "`; frozen upstreams, s3prl task experts, "
        "every hidden state layer-normalised before the featurizer's weighted sum (`--upstream_feature_normalize`).",
        "overall = mean(100 − PER, 100 − WER, KS, SID, ER). Each row was measured on its own machine and date:",
        "",
        "| " + " | ".join(header) + " | measured on |",
        "|" + "---|" * (len(header) + 1),
    ]
    all_stale = set()
    for row in rows:
        stale = stale_tasks(row, current) & set(TASK_COLUMNS)
        all_stale |= stale
        cells = [str(row.get("upstream", "")), str(row.get("params_m", "")), *_row_cells(row, stale)]
        lines.append("| " + " | ".join(cells) + f" | {row.get('machine', '')}, {row.get('date', '')} |")
    lines += _stale_note(preset, all_stale)
    atomic_write(path, lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n"))


def write_plot(rows: List[dict], path: Path, preset: str, current: Optional[Dict[str, str]] = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = ["PR\n100−PER", "ASR\n100−WER", "KS acc", "SID acc", "ER acc", "overall"]
    keys = [*TASK_COLUMNS.values(), "overall"]
    fig, ax = plt.subplots(figsize=(max(7, 1.6 * len(labels)), 4.2))
    width = 0.8 / max(1, len(rows))
    x = np.arange(len(labels))
    for i, row in enumerate(rows):
        values = []
        for key in keys:
            value = row.get(key, "")
            value = float(value) if value not in ("", None) else np.nan
            values.append(100.0 - value if key in ERROR_RATE_COLUMNS else value)
        stale = stale_tasks(row, current) & set(TASK_COLUMNS)
        note = f" {STALE_MARK} {','.join(sorted(stale))}: earlier config" if stale else ""
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, values, width,
               label=f"{row['upstream']} ({row.get('params_m', '?')}M){note}")
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 100)
    ax.set_ylabel("score (higher is better)")
    dates = sorted({str(r.get("date", "")) for r in rows})
    machines = sorted({str(r.get("machine", "")) for r in rows})
    ax.set_title(f"Mini-SUPERB, preset {preset} — {', '.join(dates)}\n{'; '.join(machines)}", fontsize=8)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)


def _wer_cer(row: dict, wer_column: str, cer_column: Optional[str], stale: bool = False) -> str:
    wer, cer = row.get(wer_column, ""), row.get(cer_column, "") if cer_column else ""
    text = f"{wer} / {cer}" if wer != "" and cer != "" else str(wer)
    return text + STALE_MARK if stale and text != "" else text


def write_low_resource(rows: List[dict], path: Path, preset: str, current: Optional[Dict[str, str]] = None) -> None:
    """ASR WER / CER with all of train-clean-100 vs a tenth of it, frozen and fine-tuned (Wang et al. 2022)."""
    settings = {"asr": "full, frozen", "asr_low": "1/10, frozen", "asr_low_ft": "1/10, fine-tuned"}
    wer_columns = {"asr": TASK_COLUMNS["asr"], **EXTRA_COLUMNS}
    lines = [
        f"# Low-resource ASR, preset `{preset}`",
        "",
        f"Written by `python run_benchmark.py --preset {preset} --tasks asr_low,asr_low_ft ...`. WER / CER on "
        "test-clean (s3prl's asr expert, char CTC, no LM; CER is its `uer`); `full`: the ASR task's "
        "train-clean-100, `1/10`: every 10th of its utterances; `frozen`: SUPERB protocol; `fine-tuned`: the "
        "upstream trains with the downstream (s3prl -f). On the mini corpus WER sits near 100, so CER ranks better.",
        "",
        "| upstream | params (M) | " + " | ".join(f"WER / CER {name} ↓" for name in settings.values()) + " | measured on |",
        "|---|---|" + "---|" * len(settings) + "---|",
    ]
    all_stale = set()
    for row in rows:
        stale = stale_tasks(row, current) & set(settings)
        all_stale |= stale
        cells = [str(row.get("upstream", "")), str(row.get("params_m", ""))]
        for task in settings:
            cells.append(_wer_cer(row, wer_columns[task], CER_COLUMNS[task], task in stale))
        lines.append("| " + " | ".join(cells) + f" | {row.get('machine', '')}, {row.get('date', '')} |")
    lines += _stale_note(preset, all_stale)
    atomic_write(path, lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n"))


#: columns a study table adds when any of its rows has them: (header, CSV column, CER column or None, task)
STUDY_EXTRA_COLUMNS = [
    ("ASR 1/10 frozen WER / CER ↓", EXTRA_COLUMNS["asr_low"], CER_COLUMNS["asr_low"], "asr_low"),
    ("ASR 1/10 fine-tuned WER / CER ↓", EXTRA_COLUMNS["asr_low_ft"], CER_COLUMNS["asr_low_ft"], "asr_low_ft"),
    ("speed vs teacher (this run)", "speedup_vs_teacher", None, None),
]


def write_study_table(study, rows: List[dict], path: Path, preset: str,
                      current: Optional[Dict[str, str]] = None) -> Path:
    """``results/<preset>/<study>.md``: a study's rows (``study.rows``: name -> description) from the
    score table, in the study's order. The low-resource ASR and speed columns appear when a row has them."""
    by_name = {row["upstream"]: row for row in rows}
    study_rows = [by_name.get(name, {}) for name in study.rows]
    extra = [c for c in STUDY_EXTRA_COLUMNS if any(r.get(c[1], "") != "" for r in study_rows)]
    header = ["row", "what", "params (M)", "PR PER ↓", "ASR WER / CER ↓", "KS acc ↑", "SID acc ↑", "ER acc ↑",
              "overall ↑", *(c[0] for c in extra), "measured on"]
    lines = [
        f"# {study.title}",
        "",
        f"Written by `python run_benchmark.py --preset {preset} --study {study.name}`; frozen upstreams "
        "(except fine-tuned columns), s3prl task experts; students distilled from the preset's teacher by "
        "`pretrain/students.yaml`. The speed column is the teacher's time / the row's time on 10 s of audio, "
        "measured inside the benchmark run that scored the row (results/speed.md has the side-by-side runs).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    all_stale = set()
    for (name, description), row in zip(study.rows.items(), study_rows):
        stale = stale_tasks(row, current)
        all_stale |= stale
        superb = _row_cells(row, stale & set(TASK_COLUMNS))
        superb[1] = _wer_cer(row, TASK_COLUMNS["asr"], CER_COLUMNS["asr"], "asr" in stale)
        cells = [str(row.get("params_m", "")), *superb,
                 *(_wer_cer(row, wer, cer, task in stale) for _, wer, cer, task in extra)]
        stamp = f"{row.get('machine', '')}, {row.get('date', '')}" if row else "not measured yet"
        lines.append(f"| {name} | {description} | " + " | ".join(cells) + f" | {stamp} |")
    lines += _stale_note(preset, all_stale)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n"))
    return path


def write_reports(rows: List[dict], out_dir: Path, preset: str,
                  current: Optional[Dict[str, str]] = None) -> Dict[str, Path]:
    """The score table as CSV, Markdown and PNG (plus the low-resource ASR table when rows have its
    columns); ``current``: task -> digest of its config now, to mark the scores measured under another."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out_dir / "scores.csv", "md": out_dir / "scores.md", "png": out_dir / "scores.png"}
    write_csv(rows, paths["csv"])
    write_markdown(rows, paths["md"], preset, current)
    write_plot(rows, paths["png"], preset, current)
    low = [row for row in rows if any(row.get(c, "") != "" for c in EXTRA_COLUMNS.values())]
    if low:
        paths["low_resource"] = out_dir / LOW_RESOURCE_FILE
        write_low_resource(low, paths["low_resource"], preset, current)
    return paths
