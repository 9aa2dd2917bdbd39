"""``ionto fit TABLE.csv``: fit a four-parameter logistic (drc LL.4 / Prism) to any dose,response table."""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.common import emit_json, say
from daq.errors import IontoError

if TYPE_CHECKING:
    import numpy as np

ORDER = 55
DOSE_NAMES = ("dose", "dose_na", "current", "current_na", "charge", "charge_nc", "conc", "concentration", "x")
RESPONSE_NAMES = ("response", "percent_change", "rate", "rate_hz", "y", "effect")
MISSING = {"", "na", "nan", "n/a", "null", "none", "-"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help="fit a 4PL dose–response curve to a dose,response table (CSV)",
                       description="Fits drc's LL.4 / Prism's four-parameter logistic on log dose to a table of "
                       "dose and response columns (replicate rows and dose 0 allowed) and reports EC50 with its "
                       "profile-likelihood CI, Hill slope, top and bottom with SE and CI, R², AICc and the "
                       "lack-of-fit test.  With --group, fits each group and compares each with the first.")
    p.add_argument("table", help="CSV (or ; / tab separated) file with a header row (or two numeric columns)")
    p.add_argument("--dose-col", help=f"dose column (default: the first of {', '.join(DOSE_NAMES)}, else column 1)")
    p.add_argument("--response-col", help="response column (default: the first of "
                   f"{', '.join(RESPONSE_NAMES)}, else column 2)")
    p.add_argument("--group-col", help="column naming the curve of each row (fits and compares the curves)")
    p.add_argument("--dose-unit", default="", help="unit of the dose, for the report (e.g. nA, nC, mM)")
    p.add_argument("--fix-bottom", type=float, help="fix the bottom asymptote (LL.4 c)")
    p.add_argument("--fix-top", type=float, help="fix the top asymptote (LL.4 d)")
    p.add_argument("--conf", type=float, default=0.95, help="confidence level of every CI (default 0.95: "
                   "\"95 %% CI\")")
    p.add_argument("--out", help="directory for a figure (PNG, SVG) and fits.json")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(func=run)


def _pick(header: list[str], given: str | None, names: tuple[str, ...], fallback: int, what: str, path: Path) -> int:
    low = [h.strip().lower() for h in header]
    if given is not None:
        if given.strip().lower() in low:
            return low.index(given.strip().lower())
        if given.isdigit() and 1 <= int(given) <= len(header):
            return int(given) - 1
        raise IontoError(f"{path}: no {what} column {given!r}; columns are {header}")
    for n in names:
        if n in low:
            return low.index(n)
    if fallback >= len(header):
        raise IontoError(f"{path}: needs at least {fallback + 1} columns for the {what}; columns are {header}")
    return fallback


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _read_text_table(path: Path) -> str:
    """The text of a table file; ``IontoError`` in one line for what is not one (a recording,
    a directory, a binary or UTF-16 file)."""
    if not path.exists():
        raise IontoError(f"{path}: no such file")
    if path.is_dir():
        raise IontoError(f"{path}: is a directory; give a dose,response table (CSV)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IontoError(f"{path}: cannot read the table ({exc.strerror or exc})") from None
    # HDF5 puts its signature at 0 or, after a user block, at 512, 1024, 2048, ...
    if any(data[off:off + 8] == HDF5_SIGNATURE for off in (0, 512, 1024, 2048, 4096)):
        raise IontoError(f"{path} is an HDF5 file (an ionto recording or an NWB file), not a dose,response table: "
                         f"use `ionto analyze {path}` for its dose–response")
    if b"\x00" in data[:8192]:
        raise IontoError(f"{path}: not a text table (it holds binary data, or UTF-16 text): give a dose,response "
                         "table as CSV (UTF-8)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:  # a spreadsheet's Windows export: its headers may hold a µ
        return data.decode("cp1252", errors="replace")


def read_table(path: Path, dose_col: str | None, resp_col: str | None, group_col: str | None
               ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str], int]:
    """Rows grouped by curve: {group: (dose, response)}, the column names used, rows skipped."""
    text = _read_text_table(path)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = [r for r in csv.reader(text.splitlines(), dialect) if any(c.strip() for c in r)]
    if not rows:
        raise IontoError(f"{path}: the table is empty")
    has_header = not all(_is_number(c.strip()) for c in rows[0] if c.strip())
    header = [c.strip() for c in rows[0]] if has_header else [f"column {i + 1}" for i in range(len(rows[0]))]
    body = rows[1:] if has_header else rows
    di = _pick(header, dose_col, DOSE_NAMES, 0, "dose", path)
    ri = _pick(header, resp_col, RESPONSE_NAMES, 1 if di != 1 else 0, "response", path)
    gi = _pick(header, group_col, (), 0, "group", path) if group_col else None
    groups: dict[str, tuple[list[float], list[float]]] = {}
    skipped = 0
    first_line = 2 if has_header else 1
    for n, r in enumerate(body, start=first_line):
        cells = [c.strip() for c in r] + [""] * (len(header) - len(r))
        vals = []
        for idx, what in ((di, header[di]), (ri, header[ri])):
            c = cells[idx]
            if c.lower() in MISSING:
                vals.append(None)
                continue
            try:
                vals.append(float(c))
            except ValueError:
                raise IontoError(f"{path}, line {n}, column {what!r}: {c!r} is not a number") from None
        if vals[0] is None or vals[1] is None:
            skipped += 1
            continue
        if not math.isfinite(vals[1]):
            raise IontoError(f"{path}, line {n}, column {header[ri]!r}: response {cells[ri]!r} must be a finite "
                             "number (leave the cell empty, or write NA, for a missing value)")
        if vals[0] < 0 or not math.isfinite(vals[0]):
            raise IontoError(f"{path}, line {n}, column {header[di]!r}: dose {cells[di]!r} must be a number ≥ 0 "
                             "(give doses, not log doses)")
        g = cells[gi] if gi is not None else header[ri]
        groups.setdefault(g, ([], []))
        groups[g][0].append(vals[0])
        groups[g][1].append(vals[1])
    if not groups:
        raise IontoError(f"{path}: no rows with both a dose and a response")
    import numpy as np

    return {g: (np.array(x), np.array(y)) for g, (x, y) in groups.items()}, [header[di], header[ri]], skipped


def run(args: argparse.Namespace) -> int:
    from analysis.fit import FitError, fit_ll4
    from analysis.fit_compare import compare_fits
    from analysis.tables import clean

    path = Path(args.table)
    if not 0 < args.conf < 1:
        raise IontoError(f"--conf must be between 0 and 1, got {args.conf}")
    groups, cols, skipped = read_table(path, args.dose_col, args.response_col, args.group_col)
    fits, errors, comps = {}, {}, []
    for g, (x, y) in groups.items():
        try:
            fits[g] = fit_ll4(x, y, args.dose_unit, args.conf, args.fix_bottom, args.fix_top)
        except FitError as exc:
            errors[g] = str(exc)
    names = list(groups)
    if len(names) > 1 and names[0] in fits and args.fix_bottom is None and args.fix_top is None:
        for other in names[1:]:
            if other in fits:
                try:
                    c, _, _ = compare_fits(*groups[names[0]], *groups[other], names[0], other, args.dose_unit,
                                           args.conf, fits=(fits[names[0]], fits[other]))
                    comps.append(c.as_dict())
                except (FitError, ValueError) as exc:
                    errors[f"{other} vs {names[0]}"] = str(exc)
    if not fits:
        raise IontoError(f"{path}: no curve could be fitted: " + "; ".join(f"{g}: {m}" for g, m in errors.items()))
    doc = {"file": str(path), "dose_column": cols[0], "response_column": cols[1], "rows_skipped": skipped,
           "fits": {g: {"group": g, **f.as_dict()} for g, f in fits.items()}, "fit_errors": errors,
           "comparisons": comps}
    if args.out:
        from analysis.report import plot_fits

        out = Path(args.out)
        figs = plot_fits({g: (x, y, fits.get(g)) for g, (x, y) in groups.items()}, args.dose_unit or "dose units",
                         out, name="fit", title=path.name, ylabel=cols[1], xlabel=cols[0])
        doc["outputs"] = {"figure": figs, "json": str(out / "fits.json")}
        (out / "fits.json").write_text(json.dumps(clean(doc), indent=2), encoding="utf-8")
    if args.json:
        emit_json(clean(doc))
        return 0
    if skipped:
        say(f"{path}: {skipped} row(s) without a dose or response skipped")
    for g, f in fits.items():
        if f.determinable:
            wald = f"{f.ec50_ci_wald[0]:.4g}–{f.ec50_ci_wald[1]:.4g}"
            say(f"{g}: EC50 {f.ec50_text(5)} ({f.ec50_ci_text(4)}, profile likelihood; {wald}, delta method)"
                + ("" if f.status == "fitted" else f" — {f.status}"))
        else:
            say(f"{g}: EC50 not determinable")
        for r in f.reasons:
            say(f"    why: {r}")
        say(f"    Hill slope {f.hill:.5g} ± {f.se['hill']:.3g}   top {f.top:.5g} ± {f.se['top']:.3g}   "
            f"bottom {f.bottom:.5g} ± {f.se['bottom']:.3g}")
        lof = f.lack_of_fit
        say(f"    R² {f.r_squared:.4f}   AICc {f.aicc:.2f}   residual SE {math.sqrt(f.rss / f.df):.5g} ({f.df} df)"
            + (f"   lack of fit: F = {lof['F']:.3g}, p = {lof['p']:.3g}" if lof else ""))
        for w in f.warnings:
            say(f"    warning: {w}")
    for g, m in errors.items():
        say(f"{g}: no fit ({m})")
    for c in comps:
        ratio = (c["note"] if c["note"] else f"EC50 ratio {c['ec50_ratio']:.4g} ({c['ci_label']} "
                 f"{c['ec50_ratio_ci'][0]:.3g}–{c['ec50_ratio_ci'][1]:.3g})")
        say(f"{c['label_b']} vs {c['label_a']}: {ratio}; same EC50: F = {c['f_shared_ec50']:.3g}, "
            f"p = {c['p_shared_ec50']:.3g}; same curve: F = {c['f_same_curve']:.3g}, p = {c['p_same_curve']:.3g}")
    return 0
