"""Writes the ndx-iontophoresis spec (../../spec/*.yaml) with pynwb's spec builders, as the
ndx-template does: ``python src/spec/create_extension_spec.py [OUTPUT_DIR]`` from the package folder.

The types (names and units follow ionto's vocabulary: units in the column names):

* ``IontophoresisBarrelsTable`` (DynamicTable): one row per barrel of the pipette — barrel,
  drug, role (drug / balance / control / recording), concentration_mM, polarity (+1 cation,
  -1 anion, 0 either), retain_current_nA (signed), and where known pH, resistance_MOhm and
  max_eject_nA.
* ``IontophoresisPipette`` (Device): the multi-barrel micropipette, holding its barrels table.
* ``IontophoresisEjectionsTable`` (TimeIntervals): one row per ejection with current_nA
  (signed), charge_nC and ``barrel``, a reference to the row of the barrels table.
* ``BarrelCurrentSeries`` (TimeSeries) with ``barrel`` (the same reference), and its two kinds
  ``CommandedCurrentSeries`` (the current asked of the source) and ``MonitoredCurrentSeries``
  (the current the source's monitor reported).
"""

import sys
from pathlib import Path

from hdmf.spec.write import export_spec
from pynwb.spec import NWBAttributeSpec, NWBDatasetSpec, NWBGroupSpec, NWBNamespaceBuilder

NAMESPACE = "ndx-iontophoresis"
VERSION = "0.1.0"


def column(name: str, doc: str, dtype: str, required: bool = True) -> NWBDatasetSpec:
    return NWBDatasetSpec(name=name, neurodata_type_inc="VectorData", dtype=dtype, doc=doc,
                          quantity=1 if required else "?")


def barrel_reference(doc: str) -> NWBDatasetSpec:
    return NWBDatasetSpec(name="barrel", neurodata_type_inc="DynamicTableRegion", dtype="int", doc=doc)


def data_types() -> list[NWBGroupSpec]:
    barrels = NWBGroupSpec(
        neurodata_type_def="IontophoresisBarrelsTable", neurodata_type_inc="DynamicTable",
        doc="The barrels of a multi-barrel iontophoresis pipette, one row each.",
        datasets=[
            column("barrel", "Name of the barrel (as protocols and the event log call it), e.g. 'glu'.", "text"),
            column("drug", "Drug or solution in the barrel, e.g. 'glutamate', 'NaCl'.", "text"),
            column("role", "What the barrel is for: 'drug' (ejects a drug), 'balance' (carries the negated sum "
                   "of the other currents so the net tip current is 0), 'control' (NaCl current control) or "
                   "'recording' (records the neuron).", "text"),
            column("concentration_mM", "Concentration of the drug in the barrel, mM (0 if not given).", "float64"),
            column("polarity", "Charge of the drug ion: +1 (cation, ejected with positive current), -1 (anion, "
                   "ejected with negative current), 0 (either, e.g. NaCl).", "int8"),
            column("retain_current_nA", "Retaining current between ejections, nA, signed (opposite to the "
                   "ejecting polarity); 0 for none.", "float64"),
            column("pH", "pH of the barrel's solution.", "float64", required=False),
            column("resistance_MOhm", "Resistance of the barrel, MOhm (measured).", "float64", required=False),
            column("max_eject_nA", "Largest ejecting current the rig allows on this barrel, nA.", "float64",
                   required=False),
        ])
    pipette = NWBGroupSpec(
        neurodata_type_def="IontophoresisPipette", neurodata_type_inc="Device",
        doc="A multi-barrel micropipette for microiontophoresis, with the table of its barrels.",
        groups=[NWBGroupSpec(name="barrels", neurodata_type_inc="IontophoresisBarrelsTable",
                             doc="The pipette's barrels.")],
        attributes=[NWBAttributeSpec(name="max_total_current_nA", dtype="float64", required=False,
                                     doc="Largest sum of the barrels' current magnitudes the rig allows, nA.")])
    ejections = NWBGroupSpec(
        neurodata_type_def="IontophoresisEjectionsTable", neurodata_type_inc="TimeIntervals",
        doc="Iontophoretic ejections: one row per ejection of a barrel, from start_time to stop_time (s).",
        datasets=[
            barrel_reference("The ejecting barrel: a row of the pipette's IontophoresisBarrelsTable."),
            column("current_nA", "Ejecting current, nA, signed (+ ejects cations, - anions).", "float64"),
            column("charge_nC", "Charge passed: |current| x duration, nC.", "float64"),
        ])
    series = NWBGroupSpec(
        neurodata_type_def="BarrelCurrentSeries", neurodata_type_inc="TimeSeries",
        doc="The current of one barrel of an iontophoresis pipette (data x conversion = A).",
        datasets=[barrel_reference("The barrel: a row of the pipette's IontophoresisBarrelsTable.")])
    commanded = NWBGroupSpec(
        neurodata_type_def="CommandedCurrentSeries", neurodata_type_inc="BarrelCurrentSeries",
        doc="The current commanded on a barrel (what the current source was asked for).")
    monitored = NWBGroupSpec(
        neurodata_type_def="MonitoredCurrentSeries", neurodata_type_inc="BarrelCurrentSeries",
        doc="The current a barrel's current monitor reported (what the source delivered).")
    return [barrels, pipette, ejections, series, commanded, monitored]


def main(output_dir: str | None = None) -> None:
    """Write the namespace and extensions YAML into ``output_dir`` (default: the package's spec/)."""
    ns = NWBNamespaceBuilder(
        doc="Microiontophoresis: the multi-barrel pipette and its barrels, ejections, and the barrels' commanded "
            "and monitored currents.",
        name=NAMESPACE, version=VERSION, author=["ionto developers"], contact=["ionto@example.org"])
    for t in ("DynamicTable", "VectorData", "DynamicTableRegion"):
        ns.include_type(t, namespace="hdmf-common")
    for t in ("Device", "TimeIntervals", "TimeSeries"):
        ns.include_type(t, namespace="core")
    export_spec(ns, data_types(), output_dir or str(Path(__file__).resolve().parents[2] / "spec"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
