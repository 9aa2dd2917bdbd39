"""The ``nidaqmx_grpc.NiDAQmx`` service of the simulated device.

Implements the subset of NI-DAQmx that a continuous, synchronised AI + AO acquisition
needs (task life cycle, AI/AO voltage channels, sample-clock timing, start trigger, analog
reads and writes, buffers, device enumeration and reset), software-timed digital output on
port 0, the watchdogs (cDAQ Ethernet chassis: AO expiration states; X Series: DIO) and every
attribute RPC through one table-backed handler.  Tasks are named sessions found by name, as
in NI's server (``sessions.py``).  Errors follow the NI gRPC Device Server: status UNKNOWN,
the message as details, the code in the ``ni-error`` trailer (reads/writes add
``ni-samps-per-chan-read`` / ``-written``); session-repository failures are bare gRPC
statuses (ALREADY_EXISTS, FAILED_PRECONDITION).  Anything else answers UNIMPLEMENTED, as an
older device server would.

Thread: each RPC runs on one of gRPC's worker threads.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
import numpy as np
from nidaqmx._stubs import nidaqmx_pb2 as pb
from nidaqmx._stubs import nidaqmx_pb2_grpc as pb_grpc
from session_pb2 import Session

from mock_daq.nigrpc import constants as K
from mock_daq.nigrpc import measurements, triggers
from mock_daq.nigrpc.attributes import ATTRIBUTE_RPC, AttributeTable, make_handler
from mock_daq.nigrpc.hardware import Hardware, Task
from mock_daq.nigrpc.sessions import SessionError
from mock_daq.nigrpc.spec import Module, NIError, device_of, expand_channels, suffix

log = logging.getLogger(__name__)
DRIVER_VERSION = (24, 8, 0)
_SERVICE = pb.DESCRIPTOR.services_by_name["NiDAQmx"]


# What DAQmx answers for a property nobody set (NI-DAQmx C Reference, each property's default)
DEFAULTS: dict[tuple[str, int], Any] = {
    ("Chan", K.CHAN_AI_VOLTAGE_UNITS): K.UNITS_VOLTS, ("Chan", K.CHAN_AO_VOLTAGE_UNITS): K.UNITS_VOLTS,
    ("Chan", K.CHAN_AI_CUSTOM_SCALE): "", ("Chan", K.CHAN_AO_CUSTOM_SCALE): "",
    ("Chan", K.CHAN_AI_RAW_SAMP_SIZE): 16, ("Chan", K.CHAN_AO_RESOLUTION): 16.0,  # 16-bit ADC/DAC (spec sheets)
    ("Read", K.READ_RELATIVE_TO): K.READ_CURR_READ_POS, ("Read", K.READ_OFFSET): 0,
    ("Read", K.READ_SLEEP_TIME): 0.001, ("Read", K.READ_LOGGING_FILE_PATH): "",
    ("Read", K.READ_LOGGING_PAUSE): False, ("Read", K.READ_LOGGING_PREALLOC): 0,
    ("Write", K.WRITE_RELATIVE_TO): K.WRITE_CURR_WRITE_POS, ("Write", K.WRITE_OFFSET): 0,
    ("Write", K.WRITE_SLEEP_TIME): 0.001,
    ("Timing", K.TIMING_SIMULTANEOUS_AO): False,
    ("Trig", K.TRIG_START_DIG_FLTR_TB_SRC): "", ("Trig", K.TRIG_START_DIG_FLTR_TB_RATE): 0.0,
    ("Trig", K.TRIG_REF_PRETRIG_SAMPLES): 2, ("Read", K.READ_ALL_AVAIL_SAMP): False,
}
# A simulated device has no calibration history: NI's simulated PCIe-6363 reports 0 °C for its
# calibration temperatures (nidaqmx-python tests/component/system/test_device_properties.py);
# the recommended external calibration interval is the specification's 2 years (NI 6363 spec).
CAL_INFO: dict[int, Any] = {K.CAL_DEV_TEMP: 0.0, K.CAL_EXT_LAST_TEMP: 0.0, K.CAL_SELF_LAST_TEMP: 0.0,
                            K.CAL_EXT_RECOMMENDED_INTERVAL_MONTHS: 24}


def _abort(context: grpc.ServicerContext, err: NIError) -> None:
    md = [("ni-error", str(err.code))]
    if err.samps_read is not None:
        md.append(("ni-samps-per-chan-read", str(err.samps_read)))
    if err.samps_written is not None:
        md.append(("ni-samps-per-chan-written", str(err.samps_written)))
    context.set_trailing_metadata(tuple(md))
    context.abort(grpc.StatusCode.UNKNOWN, str(err))


def rpc(fn: Callable[..., Any]) -> Callable[..., Any]:
    """NIError → the NI error convention; anything unexpected → INTERNAL (and a log line)."""

    @functools.wraps(fn)
    def wrapper(self: SimNiDAQmxServicer, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls[fn.__name__] = self.calls.get(fn.__name__, 0) + 1
        try:
            return fn(self, request, context)
        except NIError as err:
            _abort(context, err)
        except SessionError as err:  # grpc-device's NonDriverException: a status, no ni-error trailer
            context.abort(getattr(grpc.StatusCode, err.status), str(err))
        except (ValueError, TypeError, IndexError) as exc:  # a malformed request
            log.exception("simulated NI-DAQmx: %s failed", fn.__name__)
            _abort(context, NIError(K.INVALID_ATTRIBUTE_VALUE, f"{type(exc).__name__}: {exc}"))

    return wrapper


class SimNiDAQmxServicer(pb_grpc.NiDAQmxServicer):
    """The simulated device's gRPC face.  ``hardware`` holds its state."""

    def __init__(self, hardware: Hardware):
        self.hw = hardware
        self.table = AttributeTable()
        for name in measurements.KINDS:
            setattr(self, name, self._create_measurement(name))
        self._all_unsupported = frozenset(a for m in hardware.spec.modules for a in m.product.unsupported)
        self.calls: dict[str, int] = {}
        for method in _SERVICE.methods:
            if ATTRIBUTE_RPC.match(method.name):
                resp_cls = getattr(pb, method.output_type.name)
                body = make_handler(method, self.table, self._provide, self._validate, resp_cls)
                setattr(self, method.name, self._wrap_attr(method.name, body))

    def _create_measurement(self, rpc_name: str) -> Callable[..., Any]:
        """CreateAIRTDChan, CreateAICurrentChan, …: see ``measurements.py``."""
        kind = measurements.KINDS[rpc_name]
        response = getattr(pb, f"{rpc_name}Response")

        def handler(request: Any, context: grpc.ServicerContext) -> Any:
            self.calls[rpc_name] = self.calls.get(rpc_name, 0) + 1
            try:
                t = self._task(request.task)
                fields = {f.name for f in request.DESCRIPTOR.fields}
                lo, hi = (request.min_val, request.max_val) if "min_val" in fields else (0.0, 100.0)
                term = (request.terminal_config_raw or request.terminal_config) if "terminal_config" in fields \
                    else K.TERM_DEFAULT
                names = [n.strip() for n in request.name_to_assign_to_channel.split(",")] \
                    if request.name_to_assign_to_channel else None
                before = len(t.channels)
                self.hw.add_channels(t, expand_channels(request.physical_channel), "ai", lo, hi,
                                     term or K.TERM_DEFAULT, names, meas_type=kind.value)
                props = measurements.properties(rpc_name, request)
                for c in t.channels[before:]:
                    for attr, value in props.items():
                        self.table.set("Chan", {"task": t.session, "channel": c.name}, attr, value)
                return response()
            except NIError as err:
                _abort(context, err)

        return handler

    def _wrap_attr(self, name: str, body: Callable[[Any], Any]) -> Callable[..., Any]:
        def handler(request: Any, context: grpc.ServicerContext) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            try:
                return body(request)
            except NIError as err:
                _abort(context, err)

        return handler

    # --- helpers -------------------------------------------------------------------------
    def _task(self, session: Session) -> Task:
        return self.hw.task(session.name)

    def _task_from_key(self, key: dict[str, Any]) -> Task:
        return self.hw.task(key["task"])

    # --- attributes: live values ------------------------------------------------------------
    def _provide(self, scope: str, key: dict[str, Any], attr: int) -> Any:
        hw, spec = self.hw, self.hw.spec
        self._unsupported(key, attr)
        if scope == "SystemInfo":
            versions = {K.SYS_MAJOR_VERSION: 0, K.SYS_MINOR_VERSION: 1, K.SYS_UPDATE_VERSION: 2}
            if attr in versions:
                return DRIVER_VERSION[versions[attr]]
            if attr == K.SYS_DEV_NAMES:
                return ", ".join(spec.device_names)
        elif scope == "Device":
            dev = key["device_name"]
            spec.check_device(dev)
            if spec.chassis and dev == spec.chassis:
                return self._chassis_attr(attr)
            values = self._device_values(spec.module(dev))
            if attr in values:
                return values[attr]
        elif scope == "PhysicalChan":
            phys = key["physical_channel"]
            kind = "ao" if suffix(phys).startswith("ao") else "ai"
            if device_of(phys) not in spec.device_names:  # DAQmx: the channel does not exist (-200170)
                raise NIError(K.PHYSICAL_CHAN_DOES_NOT_EXIST, f"Physical Channel Name: {phys}")
            spec.check_channel(phys, kind)
            if attr == K.PHYS_AI_TERM_CFGS and kind == "ai":
                mod = spec.module_of(phys) if device_of(phys) != spec.chassis else spec.modules[0]
                terms = [t for t in mod.product.ai_terminals if t != K.TERM_DIFF or
                         (not suffix(phys).startswith("_") and
                          mod.product.diff_partner(int(suffix(phys)[2:])) is not None)]
                if suffix(phys).startswith("_"):
                    terms = [K.TERM_RSE]
                return sum(K.TERM_CFG_BITS[t] for t in terms)
        elif scope == "Task":
            t = self._task_from_key(key)
            values = {K.TASK_NAME: t.name, K.TASK_CHANNELS: ", ".join(c.name for c in t.channels),
                      K.TASK_NUM_CHANS: len(t.channels), K.TASK_DEVICES: t.watchdog_device or spec.name,
                      K.TASK_COMPLETE: t.state != "running"}
            if attr in values:
                return values[attr]
        elif scope == "Chan":
            t = self._task_from_key(key)
            names = expand_channels(key.get("channel", ""))
            if not t.channels:
                raise NIError(K.PHYSICAL_CHAN_DOES_NOT_EXIST, "The task has no channels.")
            c = hw.channel(t, names[0]) if names else t.channels[0]
            chan_type = {"ai": K.CHAN_TYPE_AI, "ao": K.CHAN_TYPE_AO, "do": K.CHAN_TYPE_DO}[c.kind]
            values = {K.CHAN_TYPE: chan_type, K.CHAN_PHYSICAL_NAME: c.physical}
            if c.kind == "do":
                values[K.DO_NUM_LINES] = len(c.lines)
            elif c.kind == "ai":
                # AI.Max/Min read back coerced to the range the device chose (NI's own test:
                # "The driver's coerced ai_max/min should be wider than the desired ai_max/min")
                volts = c.meas_type == K.VOLTAGE
                values.update({K.CHAN_AI_MAX: c.range_V if volts else c.hi, K.CHAN_AI_MIN: -c.range_V if volts else c.lo,
                               K.CHAN_AI_TERM_CFG: c.terminal,
                               K.CHAN_AI_MEAS_TYPE: c.meas_type, K.CHAN_AI_RNG_HIGH: c.range_V,
                               K.CHAN_AI_RNG_LOW: -c.range_V})
            else:
                values.update({K.CHAN_AO_MAX: c.hi, K.CHAN_AO_MIN: c.lo, K.CHAN_AO_OUTPUT_TYPE: K.VOLTAGE})
            if attr in values:
                return values[attr]
        elif scope == "Read":
            t = self._task_from_key(key)
            if attr == K.READ_NUM_CHANS:
                return len(t.channels)
            if attr == K.READ_RAW_DATA_WIDTH:  # bytes per scan: 16-bit codes
                return 2 * len(t.channels)
            if attr == K.READ_AVAIL_SAMP:
                return hw.available(t)
            if attr == K.DEFAULT_NUM_SAMPS_TO_READ:
                return hw.default_read_count(t)
            if attr == K.READ_CURR_POS:
                return t.read_pos
            if attr == K.READ_TOTAL_ACQUIRED:
                return hw.acquired(t)
            if attr == K.READ_CHANNELS_TO_READ:
                return self._set_or(key, scope, attr, ", ".join(c.name for c in t.channels))
            if attr == K.READ_OVERWRITE:
                return self._set_or(key, scope, attr, K.DO_NOT_OVERWRITE)
        elif scope == "Write":
            t = self._task_from_key(key)
            if attr == K.WRITE_NUM_CHANS:
                return len(t.channels)
            if attr == K.WRITE_DIGITAL_LINES_BYTES_PER_CHAN and t.kind == "do":
                return max(len(c.lines) for c in t.channels)
            if attr in (K.WRITE_TOTAL_GENERATED, K.WRITE_SPACE_AVAIL):
                gen, pending = hw.ao_status(t)
                if attr == K.WRITE_TOTAL_GENERATED:
                    return gen
                size = int(self.table.for_task(t.session).get(K.BUF_OUTPUT_SIZE) or t.written)
                return max(0, size - pending)
            if attr == K.WRITE_CURR_POS:
                return t.written
            if attr == K.WRITE_REGEN_MODE:
                return self._set_or(key, scope, attr, K.REGEN_ALLOW)
        elif scope == "Buffer":
            t = self._task_from_key(key)
            if t.channels and attr in (K.BUF_INPUT_ONBRD_SIZE, K.BUF_OUTPUT_ONBRD_SIZE):
                p = spec.module_of(t.channels[0].physical).product if t.kind in ("ai", "ao") else spec.product
                if attr == K.BUF_INPUT_ONBRD_SIZE and t.kind == "ai":
                    return p.ai_fifo_samples
                if attr == K.BUF_OUTPUT_ONBRD_SIZE and t.kind == "ao":
                    return p.ao_fifo_samples
            if attr == K.BUF_INPUT_SIZE and t.kind == "ai":
                return self._set_or(key, scope, attr, t.buf_size)
            if attr == K.BUF_OUTPUT_SIZE and t.kind == "ao":
                return self._set_or(key, scope, attr, t.written)
        elif scope == "Timing":
            t = self._task_from_key(key)
            term = hw.terminal_device()
            src = self._set_or(key, scope, K.TIMING_SAMP_CLK_SRC, t.clock_source) or \
                f"/{term}/{t.kind or 'ai'}/SampleClockTimebase"  # the onboard clock (NI: this terminal)
            tb = spec.module_of(t.channels[0].physical).product.timebase_hz if t.kind in ("ai", "ao") \
                else spec.product.timebase_hz
            values = {K.TIMING_SAMP_RATE: t.rate_hz, K.TIMING_SAMP_MODE: t.samp_mode,
                      K.TIMING_SAMP_PER_CHAN: t.samps_per_chan,
                      K.TIMING_SAMP_CLK_SRC: src if src.startswith("/") else f"/{term}/{src}",
                      K.TIMING_TYPE: K.SAMPLE_CLOCK if t.timing == "sample_clock" else K.ON_DEMAND,
                      K.TIMING_SAMP_CLK_TIMEBASE_DIV: round(tb / t.rate_hz) if t.rate_hz else 0}
            if attr in values:
                return values[attr]
        elif scope == "Trig":
            t = self._task_from_key(key)
            if attr == K.TRIG_START_TYPE:
                return self._set_or(key, scope, attr, K.DIG_EDGE if t.trigger_source else K.TRIG_NONE)
            if attr == K.TRIG_START_DIG_EDGE_SRC:
                return t.trigger_source
            if attr == triggers.REF["type"]:
                return self._set_or(key, scope, attr, triggers.NONE)
        elif scope == "Watchdog":
            t = self._task_from_key(key)
            self.hw.poll()
            if attr == K.WATCHDOG_EXPIRED:
                return t.expired
            if attr == K.WATCHDOG_TIMEOUT:
                return t.watchdog_timeout_s
        if scope == "CalInfo" and attr in CAL_INFO:
            spec.check_device(key.get("device_name", ""))
            return CAL_INFO[attr]
        if scope == "Chan" and "task" in key:
            t = self._task_from_key(key)
            names = expand_channels(key.get("channel", ""))
            c = hw.channel(t, names[0]) if names else (t.channels[0] if t.channels else None)
            if c is not None and c.kind == "ai":
                d = measurements.defaults(c.meas_type)
                if attr in d:
                    return self._set_or(key, scope, attr, d[attr])
        if "task" in key and (scope, attr) in DEFAULTS:
            return self._set_or(key, scope, attr, DEFAULTS[(scope, attr)])
        raise LookupError(attr)

    def _device_values(self, mod: Module) -> dict[int, Any]:
        """DAQmx Device properties of one board or module (its product's figures)."""
        spec, p = self.hw.spec, mod.product
        values: dict[int, Any] = {
            K.DEV_PRODUCT_TYPE: mod.product_type, K.DEV_SERIAL_NUM: mod.serial, K.DEV_PRODUCT_NUM: p.product_num,
            K.DEV_PRODUCT_CATEGORY: K.CATEGORY_C_SERIES_MODULE if spec.chassis else p.category,
            K.DEV_IS_SIMULATED: True, K.DEV_AI_PHYSICAL_CHANS: ", ".join(mod.ai_channels),
            K.DEV_AO_PHYSICAL_CHANS: ", ".join(mod.ao_channels),
            K.DEV_AI_MAX_SINGLE_RATE: p.ai_max_single_rate_hz, K.DEV_AI_MAX_MULTI_RATE: p.ai_max_multi_rate_hz,
            K.DEV_AI_MIN_RATE: p.ai_min_rate_hz, K.DEV_AI_SIMULTANEOUS: p.ai_simultaneous,
            K.DEV_AO_MAX_RATE: p.ao_max_rate_reported, K.DEV_AO_MIN_RATE: p.timebase_hz / 2 ** 32 if p.n_ao else 0.0,
            K.DEV_AO_SAMP_CLK_SUPPORTED: bool(p.n_ao),
            K.DEV_AI_VOLTAGE_RNGS: [x for r in p.ai_ranges_V for x in (-r, r)],
            K.DEV_AO_VOLTAGE_RNGS: [x for r in p.ao_ranges_V for x in (-r, r)],
            K.DEV_CI_PHYSICAL_CHANS: ", ".join(f"{mod.name}/ctr{i}" for i in range(p.n_ci)),
            K.DEV_CO_PHYSICAL_CHANS: ", ".join(f"{mod.name}/ctr{i}" for i in range(p.n_ci)),
            K.DEV_BUS_TYPE: K.BUS_TCPIP if spec.chassis else p.bus,
        }
        # every DIO line and port the product has (PCIe-6363: port0 32 lines, port1 and port2 8
        # each); static DO (the interlock) works on port 0 only here
        ports = p.dio_ports if (mod is spec.modules[0] and not spec.chassis) else ()
        lines = ", ".join(f"{mod.name}/port{k}/line{i}" for k, n in enumerate(ports) for i in range(n))
        port = ", ".join(f"{mod.name}/port{k}" for k in range(len(ports)))
        values.update({K.DEV_DO_LINES: lines, K.DEV_DI_LINES: lines, K.DEV_DO_PORTS: port, K.DEV_DI_PORTS: port})
        if spec.chassis:
            values[K.DEV_COMPACT_DAQ_CHASSIS] = spec.chassis
        return values

    def _chassis_attr(self, attr: int) -> Any:
        spec = self.hw.spec
        values = {K.DEV_PRODUCT_TYPE: spec.chassis_product, K.DEV_SERIAL_NUM: spec.serial + 1,
                  K.DEV_PRODUCT_CATEGORY: K.CATEGORY_CDAQ_CHASSIS, K.DEV_IS_SIMULATED: True,
                  K.DEV_CHASSIS_MODULES: ", ".join(m.name for m in spec.modules), K.DEV_BUS_TYPE: K.BUS_TCPIP,
                  K.DEV_AI_PHYSICAL_CHANS: "", K.DEV_AO_PHYSICAL_CHANS: ""}
        if attr in values:
            return values[attr]
        raise LookupError(attr)

    def _set_or(self, key: dict[str, Any], scope: str, attr: int, default: Any) -> Any:
        try:
            return self.table.get(scope, key, attr)
        except KeyError:
            return default

    def _set_timing(self, t: Task, attr: int, value: Any) -> None:
        """Timing properties set one by one act as DAQmxCfgSampClkTiming's arguments do."""
        hw = self.hw
        if attr == K.TIMING_TYPE:
            t.timing = "sample_clock" if int(value) == K.SAMPLE_CLOCK else "on_demand"
        elif attr == K.TIMING_SAMP_MODE:
            t.samp_mode = int(value)
        elif attr == K.TIMING_SAMP_PER_CHAN:
            t.samps_per_chan = int(value)
        elif attr in (K.TIMING_SAMP_RATE, K.TIMING_SAMP_CLK_TIMEBASE_DIV) and t.kind in ("ai", "ao"):
            tb = hw.spec.module_of(t.channels[0].physical).product.timebase_hz
            rate = float(value) if attr == K.TIMING_SAMP_RATE else tb / max(1, int(value))
            hw.cfg_sample_clock(t, t.clock_source, rate, t.samp_mode, t.samps_per_chan,
                                from_divisor=attr == K.TIMING_SAMP_CLK_TIMEBASE_DIV)

    def _reset_timing(self, t: Task, attr: int) -> None:
        """A timing property back to DAQmx's default: no rate, continuous, no samples, the
        onboard clock; a divisor reset gives back the rate last asked for."""
        if attr == K.TIMING_SAMP_RATE:
            t.rate_hz = t.rate_asked_hz = 0.0
        elif attr == K.TIMING_SAMP_MODE:
            t.samp_mode = K.CONT_SAMPS
        elif attr == K.TIMING_SAMP_PER_CHAN:
            t.samps_per_chan = 0
        elif attr == K.TIMING_SAMP_CLK_SRC:
            t.clock_source = ""
        elif attr == K.TIMING_SAMP_CLK_TIMEBASE_DIV and t.rate_asked_hz and t.kind in ("ai", "ao"):
            self.hw.cfg_sample_clock(t, t.clock_source, t.rate_asked_hz, t.samp_mode, t.samps_per_chan)

    def _set_range(self, key: dict[str, Any], volts: float) -> None:
        """AI.Rng.High/Low set: the ADC range becomes the product's smallest range holding it."""
        t = self._task_from_key(key)
        names = expand_channels(key.get("channel", ""))
        chans = [self.hw.channel(t, n) for n in names] if names else t.channels
        for c in chans:
            if c.kind == "ai":
                c.range_V = self.hw.spec.coerce_range(-abs(volts), abs(volts) or 1e-9, "ai", c.physical)

    def _unsupported(self, key: dict[str, Any], attr: int) -> None:
        """An attribute the task's product does not have: NI's -200197, never stored."""
        if "task" not in key or attr not in self._all_unsupported:
            return
        t = self._task_from_key(key)
        for c in t.channels:
            if c.kind in ("ai", "ao") and attr in self.hw.spec.module_of(c.physical).product.unsupported:
                raise NIError(K.ATTR_NOT_SUPPORTED, f"Property: 0x{attr:X}\nChannel Name: {c.name}\n"
                              f"Device: {self.hw.spec.module_of(c.physical).product_type}")

    def _validate(self, scope: str, key: dict[str, Any], attr: int, value: Any) -> None:
        if value is None:  # a Reset
            if scope == "Timing" and "task" in key:
                self._reset_timing(self._task_from_key(key), attr)
            return
        self._unsupported(key, attr)
        if scope == "Chan" and attr in (K.CHAN_AI_RNG_HIGH, K.CHAN_AI_RNG_LOW):
            self._set_range(key, float(value))
        if scope == "Timing" and "task" in key:
            self._set_timing(self._task_from_key(key), attr, value)
        if "task" in key:
            t = self._task_from_key(key)
            wrong = {K.BUF_OUTPUT_SIZE: ("ao", "do"), K.BUF_INPUT_SIZE: ("ai", "di")}.get(attr)
            if wrong and t.kind and t.kind not in wrong:  # an output buffer on an input task, …
                raise NIError(K.ATTR_NOT_SUPPORTED_IN_TASK_CONTEXT, f"Property: 0x{attr:X}\nTask Name: {t.name}")
            if t.state == "running" and attr in (K.BUF_INPUT_SIZE, K.BUF_OUTPUT_SIZE, K.WRITE_REGEN_MODE):
                raise NIError(K.CAN_NOT_PERFORM_OP_WHILE_TASK_RUNNING)
        if attr == K.WRITE_REGEN_MODE and value not in (K.REGEN_ALLOW, K.REGEN_DONT_ALLOW):
            raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"Property: Write.RegenMode\nRequested Value: {value}")
        if attr == K.READ_OVERWRITE and value != K.DO_NOT_OVERWRITE:
            raise NIError(K.INVALID_ATTRIBUTE_VALUE, "Property: Read.OverWrite\nThis simulated device "
                          "supports DoNotOverwriteUnreadSamps only.")
        if attr == K.WATCHDOG_TIMEOUT:  # a new timeout counts from now
            self.hw.set_watchdog_timeout(self._task_from_key(key), float(value))

    # --- tasks ---------------------------------------------------------------------------
    @rpc
    def CreateTask(self, request: Any, context: grpc.ServicerContext) -> Any:
        behavior = request.initialization_behavior
        t, new = self.hw.create_task(request.session_name, behavior)
        # NiDAQmxService::CreateTask sets only the session's name (grpc-device, nidaqmx_service.cpp)
        return pb.CreateTaskResponse(task=Session(name=t.session), new_session_initialized=new)

    @rpc
    def StartTask(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        self.hw.start(t, self.table.for_task(t.session))
        return pb.StartTaskResponse()

    @rpc
    def StopTask(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.hw.stop(self._task(request.task))
        return pb.StopTaskResponse()

    @rpc
    def ClearTask(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        self.hw.clear(t)
        self.table.drop_task(t.session)
        return pb.ClearTaskResponse()

    @rpc
    def TaskControl(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        self.hw.control(t, request.action_raw or request.action, self.table.for_task(t.session))
        return pb.TaskControlResponse()

    @rpc
    def WaitUntilTaskDone(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        deadline = time.monotonic() + (request.time_to_wait if request.time_to_wait >= 0 else 1e9)
        while not self.hw.task_done(t):
            if time.monotonic() > deadline or (t.samp_mode == K.CONT_SAMPS and t.timing == "sample_clock"):
                raise NIError(K.WAIT_UNTIL_DONE_DOES_NOT_INDICATE_DONE, f"Task Name: {t.name}")
            time.sleep(0.005)
        return pb.WaitUntilTaskDoneResponse()

    @rpc
    def IsTaskDone(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.IsTaskDoneResponse(is_task_done=self.hw.task_done(self._task(request.task)))

    # --- channels, timing, triggers, buffers -------------------------------------------------
    @rpc
    def CreateAIVoltageChan(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        term = request.terminal_config_raw or request.terminal_config or K.TERM_DEFAULT
        names = [n.strip() for n in request.name_to_assign_to_channel.split(",")] \
            if request.name_to_assign_to_channel else None
        before = len(t.channels)
        self.hw.add_channels(t, expand_channels(request.physical_channel), "ai", request.min_val,
                             request.max_val, term, names)
        units = request.units_raw or request.units
        for c in t.channels[before:]:  # the channel's units and custom scale read back as created
            key = {"task": t.session, "channel": c.name}
            if units:
                self.table.set("Chan", key, K.CHAN_AI_VOLTAGE_UNITS, int(units))
            if request.custom_scale_name:
                self.table.set("Chan", key, K.CHAN_AI_CUSTOM_SCALE, request.custom_scale_name)
        return pb.CreateAIVoltageChanResponse()

    @rpc
    def CreateAOVoltageChan(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        names = [n.strip() for n in request.name_to_assign_to_channel.split(",")] \
            if request.name_to_assign_to_channel else None
        self.hw.add_channels(t, expand_channels(request.physical_channel), "ao", request.min_val,
                             request.max_val, names=names)
        return pb.CreateAOVoltageChanResponse()

    @rpc
    def CfgSampClkTiming(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        mode = request.sample_mode_raw or request.sample_mode
        self.hw.cfg_sample_clock(t, request.source, request.rate, mode, int(request.samps_per_chan))
        return pb.CfgSampClkTimingResponse()

    @rpc
    def CfgDigEdgeStartTrig(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.hw.cfg_start_trigger(self._task(request.task), request.trigger_source)
        return pb.CfgDigEdgeStartTrigResponse()

    @rpc
    def DisableStartTrig(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        t.trigger_source = ""
        triggers.configure(self.table, t.session, "start", triggers.NONE)
        return pb.DisableStartTrigResponse()

    def _trig(self, request: Any, which: str, kind: int, **values: Any) -> Task:
        t = self._task(request.task)
        src = getattr(request, "trigger_source", "")
        if src and "/" in src.strip("/"):
            self.hw.spec.check_device(device_of(src))
        dev = self.hw.terminal_device()
        named = {k: triggers.terminal(v, dev) if k.endswith("_src") else v for k, v in values.items()}
        triggers.configure(self.table, t.session, which, kind, **named)
        return t

    @rpc
    def CfgAnlgEdgeStartTrig(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._trig(request, "start", triggers.ANALOG_EDGE, edge_src=request.trigger_source,
                   edge_slope=request.trigger_slope_raw or request.trigger_slope, edge_lvl=request.trigger_level)
        return pb.CfgAnlgEdgeStartTrigResponse()

    @rpc
    def CfgAnlgWindowStartTrig(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._trig(request, "start", triggers.ANALOG_WINDOW, win_src=request.trigger_source,
                   win_when=request.trigger_when_raw or request.trigger_when, win_top=request.window_top,
                   win_btm=request.window_bottom)
        return pb.CfgAnlgWindowStartTrigResponse()

    @rpc
    def CfgAnlgEdgeRefTrig(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._trig(request, "ref", triggers.ANALOG_EDGE, edge_src=request.trigger_source,
                   edge_slope=request.trigger_slope_raw or request.trigger_slope, edge_lvl=request.trigger_level,
                   pretrig=request.pretrigger_samples)
        return pb.CfgAnlgEdgeRefTrigResponse()

    @rpc
    def CfgAnlgWindowRefTrig(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._trig(request, "ref", triggers.ANALOG_WINDOW, win_src=request.trigger_source,
                   win_when=request.trigger_when_raw or request.trigger_when, win_top=request.window_top,
                   win_btm=request.window_bottom, pretrig=request.pretrigger_samples)
        return pb.CfgAnlgWindowRefTrigResponse()

    @rpc
    def CfgDigEdgeRefTrig(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._trig(request, "ref", triggers.DIGITAL_EDGE, dig_src=request.trigger_source,
                   dig_edge=request.trigger_edge_raw or request.trigger_edge, pretrig=request.pretrigger_samples)
        return pb.CfgDigEdgeRefTrigResponse()

    @rpc
    def DisableRefTrig(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._trig(request, "ref", triggers.NONE)
        return pb.DisableRefTrigResponse()

    def _write_codes(self, t: Task, codes: np.ndarray, n: int, by_channel: bool, request: Any) -> int:
        nch = max(1, len(t.channels))
        if codes.size < n * nch:
            raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"{codes.size} codes for {n} samples × {nch} channels",
                          samps_written=0)
        codes = codes[:n * nch]  # whole samples only (a trailing partial scan is not written)
        scale = np.array([[c.range_V / 32767.0] for c in t.channels])
        data = (codes.reshape(nch, n) if by_channel else codes.reshape(n, nch).T) * scale
        return self.hw.write(t, data, request.auto_start, request.timeout, self.table.for_task(t.session))

    @rpc
    def WriteBinaryI16(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        layout = request.data_layout_raw or request.data_layout
        written = self._write_codes(t, np.asarray(request.write_array, dtype=np.float64),
                                    int(request.num_samps_per_chan), layout == K.GROUP_BY_CHANNEL, request)
        return pb.WriteBinaryI16Response(samps_per_chan_written=written)

    @rpc
    def WriteRaw(self, request: Any, context: grpc.ServicerContext) -> Any:
        """16-bit DAC codes, full scale = the channel's range, interleaved by scan."""
        t = self._task(request.task)
        codes = np.frombuffer(request.write_array, dtype="<i2").astype(np.float64)
        written = self._write_codes(t, codes, int(request.num_samps), False, request)
        return pb.WriteRawResponse(samps_per_chan_written=written)

    @rpc
    def CfgInputBuffer(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        self.table.set("Buffer", {"task": t.session}, K.BUF_INPUT_SIZE, int(request.num_samps_per_chan))
        return pb.CfgInputBufferResponse()

    @rpc
    def CfgOutputBuffer(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        self.table.set("Buffer", {"task": t.session}, K.BUF_OUTPUT_SIZE, int(request.num_samps_per_chan))
        return pb.CfgOutputBufferResponse()

    @rpc
    def ResetDevice(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.hw.reset_device(request.device_name)
        return pb.ResetDeviceResponse()

    # --- data ------------------------------------------------------------------------------
    @rpc
    def ReadAnalogF64(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        data = self.hw.read(t, request.num_samps_per_chan, request.timeout)
        n = data.shape[1]
        if request.array_size_in_samps < data.size:
            raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"The read array holds {request.array_size_in_samps} "
                          f"samples; {data.size} were read.", samps_read=0)
        flat = data.ravel() if (request.fill_mode_raw or request.fill_mode) == K.GROUP_BY_CHANNEL else data.T.ravel()
        return pb.ReadAnalogF64Response(read_array=flat, samps_per_chan_read=n)

    @rpc
    def ReadAnalogScalarF64(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        data = self.hw.read(t, 1, request.timeout)
        if data.shape[0] != 1:
            raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"A scalar read needs one channel; the task has {data.shape[0]}.")
        return pb.ReadAnalogScalarF64Response(value=float(data[0, 0]))

    @rpc
    def ReadAnalogWaveforms(self, request: Any, context: grpc.ServicerContext) -> Any:
        """One waveform per channel: the samples, t0 = now, dt = 1 / rate, the channel's name and
        units (what nidaqmx's waveform reads carry; nitypes' protobuf conversion)."""
        import datetime as dt

        import hightime as ht
        from ni.protobuf.types.waveform_conversion import float64_analog_waveform_to_protobuf
        from nitypes.waveform import AnalogWaveform, Timing

        t = self._task(request.task)
        mode = request.waveform_attribute_mode_raw  # TIMING 1 | EXTENDED_PROPERTIES 2 (nidaqmx always sets it)
        data = self.hw.read(t, request.num_samps_per_chan, request.timeout)
        now = dt.datetime.now(dt.UTC)
        out = []
        for c, y in zip(t.channels, data):
            wf = AnalogWaveform.from_array_1d(np.ascontiguousarray(y, dtype=np.float64))
            if mode & 1 and t.timing == "sample_clock" and t.rate_hz:  # on demand: no sample interval
                wf.timing = Timing.create_with_regular_interval(ht.timedelta(seconds=1 / t.rate_hz), now)
            if mode & 2:
                wf.channel_name = c.name
                wf.units = "Volts"
            out.append(float64_analog_waveform_to_protobuf(wf))
        return pb.ReadAnalogWaveformsResponse(waveforms=out, samps_per_chan_read=data.shape[1])

    def _codes(self, t: Task, n: int, timeout: float) -> np.ndarray:
        """(n_ch, n) ADC codes: 16-bit, full scale = the channel's range (X Series, C Series)."""
        data = self.hw.read(t, n, timeout)
        scale = np.array([[32767.0 / c.range_V] for c in t.channels])
        return np.clip(np.trunc(data * scale), -32768, 32767)  # an ADC truncates toward zero

    @rpc
    def ReadRaw(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        codes = self._codes(t, request.num_samps_per_chan, request.timeout).astype("<i2")
        if codes.nbytes > request.array_size_in_bytes:
            raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"The read array holds {request.array_size_in_bytes} bytes; "
                          f"{codes.nbytes} were read.", samps_read=0)
        return pb.ReadRawResponse(read_array=codes.T.tobytes(), samps_read=codes.shape[1], num_bytes_per_samp=2)

    def _read_binary(self, request: Any, dtype: str, response: Any) -> Any:
        t = self._task(request.task)
        codes = self._codes(t, request.num_samps_per_chan, request.timeout)
        codes = codes.astype(np.int64)
        if dtype == "u2":  # the 16-bit two's-complement code read as unsigned
            codes &= 0xFFFF
        elif dtype == "u4":
            codes &= 0xFFFFFFFF
        flat = codes.ravel() if (request.fill_mode_raw or request.fill_mode) == K.GROUP_BY_CHANNEL else codes.T.ravel()
        return response(read_array=flat.astype(np.int64).tolist(), samps_per_chan_read=codes.shape[1])

    @rpc
    def ReadBinaryI16(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._read_binary(request, "i2", pb.ReadBinaryI16Response)

    @rpc
    def ReadBinaryU16(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._read_binary(request, "u2", pb.ReadBinaryU16Response)

    @rpc
    def ReadBinaryI32(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._read_binary(request, "i4", pb.ReadBinaryI32Response)

    @rpc
    def ReadBinaryU32(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._read_binary(request, "u4", pb.ReadBinaryU32Response)

    @rpc
    def WriteAnalogF64(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        n = int(request.num_samps_per_chan)
        nch = max(1, len(t.channels))
        arr = np.asarray(request.write_array, dtype=np.float64)
        if arr.size != n * nch:
            raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"{arr.size} values for {n} samples × {nch} channels",
                          samps_written=0)
        layout = request.data_layout_raw or request.data_layout
        data = arr.reshape(nch, n) if layout == K.GROUP_BY_CHANNEL else arr.reshape(n, nch).T
        written = self.hw.write(t, data, request.auto_start, request.timeout, self.table.for_task(t.session))
        return pb.WriteAnalogF64Response(samps_per_chan_written=written)

    @rpc
    def WriteAnalogScalarF64(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        self.hw.write(t, np.array([[request.value]]), request.auto_start, request.timeout,
                      self.table.for_task(t.session))
        return pb.WriteAnalogScalarF64Response()

    @rpc
    def GetErrorString(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.GetErrorStringResponse(error_string=K.MESSAGES.get(request.error_code, ""))

    # --- watchdog ----------------------------------------------------------------------------
    @rpc
    def CreateWatchdogTimerTaskEx(self, request: Any, context: grpc.ServicerContext) -> Any:
        t, new = self.hw.create_watchdog(request.device_name, request.session_name, request.timeout,
                                         request.initialization_behavior)
        return pb.CreateWatchdogTimerTaskExResponse(task=Session(name=t.session), new_session_initialized=new)

    @rpc
    def CfgWatchdogAOExpirStates(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        self.hw.watchdog_states(t, expand_channels(request.channel_names), list(request.expir_state_array),
                                [int(x) for x in request.output_type_array])
        return pb.CfgWatchdogAOExpirStatesResponse()

    @rpc
    def CfgWatchdogDOExpirStates(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        self.hw.watchdog_do_states(t, request.channel_names, [int(x) for x in request.expir_state_array])
        return pb.CfgWatchdogDOExpirStatesResponse()

    @rpc
    def ControlWatchdogTask(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.hw.watchdog_control(request.task.name, request.action_raw or request.action)
        return pb.ControlWatchdogTaskResponse()

    # --- digital output (software-timed) ------------------------------------------------------
    @rpc
    def CreateDOChan(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        grouping = request.line_grouping_raw or request.line_grouping
        self.hw.add_do_channels(t, request.lines, request.name_to_assign_to_lines, grouping)
        return pb.CreateDOChanResponse()

    @rpc
    def CreateDIChan(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        grouping = request.line_grouping_raw or request.line_grouping
        self.hw.add_do_channels(t, request.lines, request.name_to_assign_to_lines, grouping, kind="di")
        return pb.CreateDIChanResponse()

    @rpc
    def ReadDigitalU32(self, request: Any, context: grpc.ServicerContext) -> Any:
        """Port words (bit k = line k of port 0) of a sample-clocked DI task with one channel."""
        t = self._task(request.task)
        if len(t.channels) != 1:
            raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"This simulated device reads one digital channel per task; "
                          f"the task has {len(t.channels)}.", samps_read=0)
        words = self.hw.read_di(t, int(request.num_samps_per_chan), request.timeout)
        if request.array_size_in_samps < words.size:
            raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"The read array holds {request.array_size_in_samps} "
                          f"samples; {words.size} were read.", samps_read=0)
        mask = np.uint32(sum(1 << i for i in t.channels[0].lines))  # only the channel's lines
        return pb.ReadDigitalU32Response(read_array=(words & mask).tolist(), samps_per_chan_read=words.size)

    def _do_samples(self, t: Task, flat: np.ndarray, n: int, layout: int, per_chan: int) -> np.ndarray:
        """(n_channels, n, per_chan) from a flat write array."""
        nch = max(1, len(t.channels))
        if flat.size != n * nch * per_chan:
            raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"{flat.size} values for {n} samples × {nch} channels",
                          samps_written=0)
        if layout == K.GROUP_BY_CHANNEL:
            return flat.reshape(nch, n, per_chan)
        return flat.reshape(n, nch, per_chan).transpose(1, 0, 2)

    @rpc
    def WriteDigitalLines(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        n = int(request.num_samps_per_chan)
        per_chan = max([len(c.lines) for c in t.channels] or [1])  # Write.DigitalLines.BytesPerChan
        flat = np.frombuffer(request.write_array, dtype=np.uint8)
        data = self._do_samples(t, flat, n, request.data_layout_raw or request.data_layout, per_chan)
        if n:
            self.hw.write_do(t, [list(data[i, -1, :len(c.lines)] != 0) for i, c in enumerate(t.channels)],
                             request.auto_start)
        return pb.WriteDigitalLinesResponse(samps_per_chan_written=n)

    @rpc
    def WriteDigitalU32(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        n = int(request.num_samps_per_chan)
        flat = np.asarray(request.write_array, dtype=np.uint32)
        data = self._do_samples(t, flat, n, request.data_layout_raw or request.data_layout, 1)
        if t.timing == "sample_clock":  # a buffered (hardware-timed) DO task: its samples, one channel
            self.hw.write_do_buffered(t, data[0, :, 0])
        elif n:
            self.hw.write_do(t, [_bits(int(data[i, -1, 0]), c.lines) for i, c in enumerate(t.channels)],
                             request.auto_start)
        return pb.WriteDigitalU32Response(samps_per_chan_written=n)

    @rpc
    def WriteDigitalScalarU32(self, request: Any, context: grpc.ServicerContext) -> Any:
        t = self._task(request.task)
        if len(t.channels) != 1:
            raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"A scalar write needs one channel; the task has {len(t.channels)}.")
        self.hw.write_do(t, [_bits(int(request.value), t.channels[0].lines)], request.auto_start)
        return pb.WriteDigitalScalarU32Response()


def _bits(value: int, lines: tuple[int, ...]) -> list[bool]:
    """A port value's bits for a channel's lines (bit k is line k of the port, as in DAQmx)."""
    return [bool(value >> line & 1) for line in lines]
