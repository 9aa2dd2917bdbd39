"""The iontophoresis part of an NWB export in the ndx-iontophoresis extension's types
(ndx-iontophoresis/, docs/nwb.md), written beside the plain tables readers without the
extension use:

* :func:`add_pipette`: the pipette as an ``IontophoresisPipette`` device (``/general/devices/
  pipette``) holding its ``IontophoresisBarrelsTable`` (one row per barrel);
* :func:`add_ejections`: ``/intervals/iontophoresis_ejections``, an ``IontophoresisEjectionsTable``
  whose ``barrel`` column refers to the barrels table's rows;
* :func:`barrel_region`: the ``barrel`` reference a ``CommandedCurrentSeries`` /
  ``MonitoredCurrentSeries`` carries;
* :func:`read_barrels` / :func:`read_ejections`: the same read back (``analysis.nwb_source``),
  from pynwb's objects of a file that has them (pynwb builds the classes from the spec cached
  in the file, so this works without the package installed too).

pynwb and the extension's package are imported by the writers only: ``analysis.nwb_source``
imports this module, and pynwb is imported only for NWB files.

Thread: the caller's.
"""

from __future__ import annotations

import math
from typing import Any

from analysis.nwb_file import NwbFormatError
from analysis.nwb_stimulus import Ejection
from daq.pipette import Pipette

PIPETTE = "pipette"  # the device's name
EJECTIONS = "iontophoresis_ejections"  # the typed table's name (the plain one is "iontophoresis")
EJECTIONS_TYPE = "IontophoresisEjectionsTable"
BARRELS_TYPE = "IontophoresisBarrelsTable"


def add_pipette(nwb: Any, pipette: Pipette) -> Any:
    """The pipette and its barrels table, added to ``nwb``'s devices; returns the table."""
    import ndx_iontophoresis as ndx

    table = ndx.IontophoresisBarrelsTable(name="barrels", description="The barrels of the pipette, as the rig "
                                          "file gave them to ionto")
    table.add_column(name="max_eject_nA", description="largest ejecting current the rig allows on the barrel, nA")
    for b in pipette.barrels:
        table.add_row(barrel=b.name, drug=b.drug, role=b.role, concentration_mM=float(b.concentration_mM),
                      polarity=int(b.polarity), retain_current_nA=float(b.retain_current_nA),
                      max_eject_nA=float(b.max_eject_nA))
    what = f"{pipette.name}: " if pipette.name else ""
    nwb.add_device(ndx.IontophoresisPipette(
        name=PIPETTE, barrels=table, max_total_current_nA=float(pipette.max_total_nA),
        description=f"{what}{len(pipette.barrels)}-barrel micropipette for microiontophoresis; net tip current "
                    "balanced"))
    return table


def row_of(table: Any, barrel: str) -> int | None:
    names = list(table["barrel"].data)
    return names.index(barrel) if barrel in names else None


def barrel_region(table: Any, barrel: str) -> Any:
    """The ``barrel`` reference of a current series, a ``DynamicTableRegion`` (None for a
    barrel not in the table)."""
    from hdmf.common import DynamicTableRegion

    row = row_of(table, barrel)
    if row is None:
        return None
    return DynamicTableRegion(name="barrel", data=[row], table=table, description=f"the barrel {barrel!r}")


def add_ejections(nwb: Any, table: Any, rows: list[Ejection]) -> int:
    """The typed ejections table (rows of barrels the pipette has); returns the rows written."""
    import ndx_iontophoresis as ndx

    typed = [(r, row_of(table, r.barrel)) for r in rows]
    typed = [(r, k) for r, k in typed if k is not None]
    if not typed:
        return 0
    ej = ndx.IontophoresisEjectionsTable(
        name=EJECTIONS, target_tables={"barrel": table},
        description="Drug and current-control ejections from the pipette's barrels (from the ionto event log; "
                    "times in s)")
    ej.add_column(name="flags", description="problems with this ejection (empty if none)")
    for r, k in typed:
        ej.add_interval(start_time=r.start_s, stop_time=r.stop_s, barrel=k, current_nA=r.current_nA,
                        charge_nC=r.charge_nC, flags=r.flags)
    nwb.add_time_intervals(ej)
    return len(typed)


def is_ejections_table(t: Any) -> bool:
    return getattr(t, "neurodata_type", "") == EJECTIONS_TYPE


def read_barrels(table: Any) -> list[dict[str, Any]]:
    """The rows of an ``IontophoresisBarrelsTable`` as dicts (optional columns when present)."""
    cols = [c for c in ("barrel", "drug", "role", "concentration_mM", "polarity", "retain_current_nA", "pH",
                        "resistance_MOhm", "max_eject_nA") if c in table.colnames]
    values = {c: list(table[c].data[:]) for c in cols}
    out = []
    for k in range(len(table)):
        row = {c: values[c][k] for c in cols}
        for c in ("barrel", "drug", "role"):
            row[c] = row[c].decode() if isinstance(row[c], bytes) else str(row[c])
        out.append(row)
    return out


def read_ejections(t: Any, where: str) -> list[Ejection]:
    """An ``IontophoresisEjectionsTable`` as ejections (barrel, drug, role and concentration from
    the barrels table its ``barrel`` column refers to); a reference outside that table is
    ``NwbFormatError`` naming ``where`` (the file)."""
    barrels = read_barrels(t["barrel"].table)
    rows = list(t["barrel"].data[:])
    outside = [(i, int(k)) for i, k in enumerate(rows) if not 0 <= int(k) < len(barrels)]
    if outside:
        i, k = outside[0]
        raise NwbFormatError(f"{where}: row {i} of the ejections table {t.name!r} refers to barrel row {k}, but the "
                             f"barrels table has {len(barrels)} row(s); each ejection must name a row of it")
    flags = list(t["flags"].data[:]) if "flags" in t.colnames else [""] * len(rows)
    out = []
    for a, z, k, cur, q, fl in zip(t["start_time"].data[:], t["stop_time"].data[:], rows, t["current_nA"].data[:],
                                   t["charge_nC"].data[:], flags):
        b = barrels[int(k)]
        conc = float(b.get("concentration_mM", 0.0))
        out.append(Ejection(float(a), float(z), b["barrel"], b["drug"], "control" if b["role"] == "control" else "drug",
                            float(cur), float(q), conc if math.isfinite(conc) else 0.0,
                            fl.decode() if isinstance(fl, bytes) else str(fl)))
    return out


def pipette_from_barrels(rows: list[dict[str, Any]], ejections: list[Ejection], name: str,
                         max_total_nA: float | None = None) -> Pipette:
    """An ionto ``Pipette`` from a barrels table's rows (``read_barrels``): drug, role, polarity,
    concentration and retaining current as the table gives them; limits from ``max_eject_nA``
    and the pipette's ``max_total_current_nA`` where given, else wide enough for the ejections.  Rows of role 'recording' carry no
    current and are left out.  Raises ``ValueError`` (pydantic's) for rows ionto cannot hold."""
    from daq.pipette import Barrel

    barrels = []
    for r in rows:
        if r["role"] == "recording":
            continue
        used = [abs(e.current_nA) for e in ejections if e.barrel == r["barrel"] and math.isfinite(e.current_nA)]
        given = float(r.get("max_eject_nA", math.nan))
        top = given if math.isfinite(given) and given > 0 else max([200.0, *used])
        retain = abs(float(r.get("retain_current_nA", 0.0)))
        conc = float(r.get("concentration_mM", 0.0))
        barrels.append(Barrel(name=r["barrel"], drug=r["drug"], role=r["role"], polarity=int(r["polarity"]),
                              concentration_mM=conc if math.isfinite(conc) else 0.0, retain_nA=retain,
                              max_retain_nA=max(50.0, retain), max_eject_nA=top,
                              command_gain_nA_per_V=max(100.0, top / 10.0)))
    if max_total_nA is None or not math.isfinite(max_total_nA) or max_total_nA <= 0:
        max_total_nA = max(500.0, *(b.max_eject_nA for b in barrels))
    return Pipette(barrels=tuple(barrels), max_total_nA=float(max_total_nA), name=name)
