"""The table's rows as aligned text and as JSON."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence

from jaxgd.crosscheck._run import Row, tolerance_for


def format_table(rows: Sequence[Row]) -> str:
    """The rows as an aligned text table."""
    header = (
        "optimizer",
        "setting",
        "problem",
        "max_abs",
        "max_rel",
        "max_ulp",
        "first_diff",
        "ulp_there",
        "state_ulp",
        "verdict",
    )
    lines = [
        (
            r.optimizer,
            r.setting,
            r.problem,
            f"{r.max_abs:.3g}",
            f"{r.max_rel:.3g}",
            str(r.max_ulp),
            "-" if r.first_diff_step is None else str(r.first_diff_step),
            "-" if r.first_diff_ulp is None else str(r.first_diff_ulp),
            "-" if r.state_max_ulp is None else str(r.state_max_ulp),
            r.verdict,
        )
        for r in rows
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=False)]
    numeric = {3, 4, 5, 6, 7, 8}

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(line) for line in lines)])


def rows_to_json(
    rows: Sequence[Row],
    *,
    dtype: str | None = None,
    steps: int | None = None,
    traced: bool | None = None,
) -> str:
    """The rows as JSON: ``{"dtype", "steps", "traced", "tolerance", "ok", "rows": [...]}``."""
    tolerance = None if dtype is None else tolerance_for(dtype, bool(traced))

    def number(x: float) -> float | str:
        return x if math.isfinite(x) else str(x)

    payload = {
        "dtype": dtype,
        "steps": steps,
        "traced": traced,
        "tolerance": None if tolerance is None else dataclasses.asdict(tolerance),
        "ok": all(r.ok for r in rows),
        "rows": [
            {
                **dataclasses.asdict(r),
                "max_abs": number(r.max_abs),
                "max_rel": number(r.max_rel),
                "state_max_rel": None if r.state_max_rel is None else number(r.state_max_rel),
            }
            for r in rows
        ],
    }
    return json.dumps(payload, indent=2)
