"""AI channels of other measurement types (RTD, thermistor, current, resistance, voltage with
excitation, the built-in temperature sensor): created as DAQmx creates them — a channel whose
measurement type and configuration (RTD type, wiring, excitation, shunt, coefficients, units)
read back as given.

Their samples are NI's simulated-device sine between the channel's min and max in the
channel's units (``detached.py``); the simulated preparation drives voltage channels only.
Which property each argument of ``DAQmxCreateAI…Chan`` sets is taken from nidaqmx-python's own
property code (``nidaqmx/task/channels/_ai_channel.py``: each property's DAQmx attribute id).

Thread: any (the table is built once at import).
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from nidaqmx.constants import RTDType, UsageTypeAI
from nidaqmx.task.channels import _ai_channel

# RPC -> (measurement type, default min, max when the request has none)
KINDS: dict[str, UsageTypeAI] = {
    "CreateAIRTDChan": UsageTypeAI.TEMPERATURE_RTD,
    "CreateAIVoltageChanWithExcit": UsageTypeAI.VOLTAGE_CUSTOM_WITH_EXCITATION,
    "CreateAICurrentChan": UsageTypeAI.CURRENT,
    "CreateAIResistanceChan": UsageTypeAI.RESISTANCE,
    "CreateAIThrmstrChanIex": UsageTypeAI.TEMPERATURE_THERMISTOR,
    "CreateAIThrmstrChanVex": UsageTypeAI.TEMPERATURE_THERMISTOR,
    "CreateAITempBuiltInSensorChan": UsageTypeAI.TEMPERATURE_BUILT_IN_SENSOR,
}

# request argument -> AIChannel property (where the names differ)
_ALIASES = {
    "resistance_config": "ai_resistance_cfg", "current_excit_source": "ai_excit_src",
    "current_excit_val": "ai_excit_val", "voltage_excit_source": "ai_excit_src", "voltage_excit_val": "ai_excit_val",
    "use_excit_for_scaling": "ai_excit_use_for_scaling", "r0": "ai_rtd_r0", "shunt_resistor_loc": "ai_current_shunt_loc",
    "ext_shunt_resistor_val": "ai_current_shunt_resistance", "a": "ai_thrmstr_a", "b": "ai_thrmstr_b",
    "c": "ai_thrmstr_c", "r1": "ai_thrmstr_r1", "bridge_config": "ai_bridge_cfg", "custom_scale_name": "ai_custom_scale",
}
_UNITS = {
    UsageTypeAI.TEMPERATURE_RTD: "ai_temp_units", UsageTypeAI.TEMPERATURE_THERMISTOR: "ai_temp_units",
    UsageTypeAI.TEMPERATURE_BUILT_IN_SENSOR: "ai_temp_units", UsageTypeAI.CURRENT: "ai_current_units",
    UsageTypeAI.RESISTANCE: "ai_resistance_units", UsageTypeAI.VOLTAGE_CUSTOM_WITH_EXCITATION: "ai_voltage_units",
}
# Callendar-Van Dusen coefficients of the standard platinum RTD types, which DAQmx sets from
# AI.RTD.Type (NI-DAQmx Help, "RTD Types": Pt3750 A = 3.81e-3, B = -6.02e-7, C = -6.0e-12 …)
RTD_COEFFS = {RTDType.PT_3750.value: (3.81e-3, -6.02e-7, -6.0e-12),
              RTDType.PT_3851.value: (3.9083e-3, -5.775e-7, -4.183e-12),
              RTDType.PT_3911.value: (3.9692e-3, -5.8495e-7, -4.233e-12),
              RTDType.PT_3916.value: (3.9739e-3, -5.870e-7, -4.4e-12),
              RTDType.PT_3920.value: (3.9787e-3, -5.8686e-7, -4.167e-12),
              RTDType.PT_3928.value: (3.9888e-3, -5.915e-7, -3.85e-12)}
EXTERNAL_SHUNT = 10167  # an X Series board has no internal shunt: "let the driver choose" is external
_NOT_PROPS = {"task", "physical_channel", "name_to_assign_to_channel", "min_val", "max_val", "terminal_config"}


def _property_ids() -> dict[str, int]:
    """AIChannel property name -> DAQmx attribute id, from nidaqmx's property getters."""
    src = inspect.getsource(_ai_channel)
    ids: dict[str, int] = {}
    for m in re.finditer(r"def (\w+)\(self\):(.*?)(?=\n    @|\Z)", src, re.S):
        hit = re.search(r"\(\s*self\._handle,\s*self\._name,\s*(0x[0-9A-Fa-f]+)", m.group(2))
        if hit and m.group(1) not in ids:
            ids[m.group(1)] = int(hit.group(1), 16)
    return ids


PROPERTY_IDS = _property_ids()


def properties(rpc: str, request: Any) -> dict[int, Any]:
    """The channel properties a ``CreateAI…Chan`` request sets: attribute id -> value."""
    kind = KINDS[rpc]
    out: dict[int, Any] = {}
    fields = {f.name for f in request.DESCRIPTOR.fields}
    for name in fields - _NOT_PROPS:
        if name.endswith("_raw"):
            continue
        value = getattr(request, f"{name}_raw") if f"{name}_raw" in fields else getattr(request, name)
        if f"{name}_raw" in fields and not value:
            value = getattr(request, name)
        prop = _UNITS[kind] if name == "units" else _ALIASES.get(name, f"ai_{name}")
        if prop == "ai_current_shunt_loc" and value == -1:
            value = EXTERNAL_SHUNT
        if prop in PROPERTY_IDS and value not in ("", None):
            out[PROPERTY_IDS[prop]] = value
        if prop == "ai_rtd_type" and value in RTD_COEFFS:
            for letter, coeff in zip("abc", RTD_COEFFS[value]):
                out[PROPERTY_IDS[f"ai_rtd_{letter}"]] = coeff
    return out


def defaults(meas_type: int) -> dict[int, Any]:
    """Properties of a channel of this type that DAQmx gives a value without being set."""
    out: dict[int, Any] = {PROPERTY_IDS["ai_lossy_lsb_removal_compressed_samp_size"]: 16}  # 16-bit ADC
    if meas_type == UsageTypeAI.VOLTAGE_CUSTOM_WITH_EXCITATION.value:
        out[PROPERTY_IDS["ai_excit_use_for_scaling"]] = False
    if meas_type == UsageTypeAI.TEMPERATURE_RTD.value:
        a, b, c = RTD_COEFFS[RTDType.PT_3750.value]  # DAQmx's default RTD type
        out.update({PROPERTY_IDS["ai_rtd_a"]: a, PROPERTY_IDS["ai_rtd_b"]: b, PROPERTY_IDS["ai_rtd_c"]: c})
    return out
