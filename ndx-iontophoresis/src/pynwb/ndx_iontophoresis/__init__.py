"""ndx-iontophoresis: NWB types for microiontophoresis (the spec: ``spec/*.yaml``, made by
``src/spec/create_extension_spec.py``).

Importing this package loads the namespace into pynwb and exposes its classes, generated
from the spec with pynwb's ``get_class`` (as the ndx-template does).  A file written with
them caches the spec (pynwb's default), so pynwb reads it back even without this package.
"""

import os
from importlib.resources import files

from pynwb import get_class, load_namespaces

NAMESPACE = "ndx-iontophoresis"

# installed: the spec sits in the package; editable: in the source tree's spec/ folder
_spec = files(__name__) / "spec" / f"{NAMESPACE}.namespace.yaml"
if not os.path.exists(str(_spec)):
    _spec = files(__name__).parent.parent.parent / "spec" / f"{NAMESPACE}.namespace.yaml"
load_namespaces(str(_spec))

IontophoresisBarrelsTable = get_class("IontophoresisBarrelsTable", NAMESPACE)
IontophoresisPipette = get_class("IontophoresisPipette", NAMESPACE)
IontophoresisEjectionsTable = get_class("IontophoresisEjectionsTable", NAMESPACE)
BarrelCurrentSeries = get_class("BarrelCurrentSeries", NAMESPACE)
CommandedCurrentSeries = get_class("CommandedCurrentSeries", NAMESPACE)
MonitoredCurrentSeries = get_class("MonitoredCurrentSeries", NAMESPACE)

__all__ = ["NAMESPACE", "BarrelCurrentSeries", "CommandedCurrentSeries", "IontophoresisBarrelsTable",
           "IontophoresisEjectionsTable", "IontophoresisPipette", "MonitoredCurrentSeries"]

del get_class, load_namespaces
