"""``--tables-only`` (and ``--drop`` alone): redraw results/<preset>/ from its scores.csv; trains nothing.

Rows without parameters or MACs (scored before the table had the MACs column) get them here when their
upstream can still be built as it was scored: a hub name, or a student whose export is still in the
experiment folder. MACs depend on the architecture alone, so an upstream whose parameter count differs
from the row's is not the one scored and fills nothing.
"""
from __future__ import annotations

import argparse
import logging
from typing import Dict, List, Optional

from ..measure import UnusableUpstream, measure_upstream
from ..protocol import current_task_configs
from ..publish import SCORES_CSV, TableUpdate, publish
from ..rows import read_rows
from ..students import read_recipes
from ..upstream_spec import UpstreamSpec
from .distill import students_root

LOG = logging.getLogger("benchmark")
MEASURED = ("params_m", "macs_g")


def _rebuildable(name: str, args: argparse.Namespace, recipes) -> Optional[UpstreamSpec]:
    """How to build the upstream of row ``name`` again, if it can be: a recipe's export, or a hub name."""
    if name in recipes.students:
        recipe = recipes.student(name)
        return recipe.upstream(students_root(args), args.preset) if recipe.export(students_root(args), args.preset).is_file() \
            else None
    return None if "(" in name else UpstreamSpec.parse(name)  # NAME(folder) rows name a checkpoint no longer known


def missing_measures(rows, args: argparse.Namespace) -> Dict[str, Dict[str, float]]:
    """row -> params and MACs, for the rows lacking either whose upstream builds again with their size."""
    recipes = read_recipes(args.recipes)
    found = {}
    for row in rows:
        if all(row.get(column, "") != "" for column in MEASURED):
            continue
        spec = _rebuildable(row["upstream"], args, recipes)
        if spec is None:
            LOG.info("%s: no MACs; its upstream cannot be built again (re-score the row to measure it)", row["upstream"])
            continue
        try:
            columns = measure_upstream(spec).columns()
        except UnusableUpstream as err:
            LOG.info("%s: no MACs (%s)", row["upstream"], err)
            continue
        if row.get("params_m", "") != "" and float(row["params_m"]) != columns["params_m"]:
            LOG.info("%s: no MACs; its upstream now has %sM parameters, the row %sM: not the one scored",
                     row["upstream"], columns["params_m"], row["params_m"])
            continue
        found[row["upstream"]] = columns
    return found


def refuse_unknown_drops(args: argparse.Namespace) -> List[dict]:
    """The score table's rows, once every --drop names one of them."""
    table = args.results / args.preset / SCORES_CSV
    rows = read_rows(table)
    unknown = [name for name in args.drop if name not in {row["upstream"] for row in rows}]
    if unknown:
        raise SystemExit(f"run_benchmark.py: error: --drop: no row {', '.join(unknown)} in {table}")
    return rows


def tables_only(args: argparse.Namespace) -> int:
    out_dir = args.results / args.preset
    table = out_dir / SCORES_CSV
    rows = refuse_unknown_drops(args)
    if not table.is_file():
        raise SystemExit(f"run_benchmark.py: error: --tables-only: no score table {table} yet")
    studies = [read_recipes(args.recipes).study(name) for name in args.study]
    kept = [row for row in rows if row["upstream"] not in args.drop]
    update = TableUpdate(drop=args.drop, fill=missing_measures(kept, args), studies=studies)
    current = current_task_configs(args.preset, args.task_overrides, args.probe_threads)
    written = publish(out_dir, args.preset, update, current)
    LOG.info("wrote %s", ", ".join(str(p) for p in written))
    return 0
