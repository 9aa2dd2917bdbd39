"""The NI products the simulated board can be: channel counts, ranges, rates, timebase,
terminal configurations, FIFO sizes and watchdog, each from NI's documents, NI-DAQmx's own
device query, or a cited report from a real board where NI's sheet could not be found.

``ionto sim-server --product NAME`` (and ``SimNIServer(..., product=NAME)``) picks one.
Sources (ni.com; the numbers are the specification manuals' "Analog Input", "Analog Output",
"Digital I/O", "Timing" sections):

* **X Series User Manual** (NI 370784): "Aggregate versus Single Channel Sample Rates",
  Table 4-5 — NI 6361/6363: 2 MS/s single channel, 1 MS/s multi-channel aggregate; NI
  6341/6343: 500 kS/s, 500 kS/s.  "Analog Input Ground-Reference Settings": DIFF pairs AI
  <i> with AI <i+8> (AI 0-7 with 8-15, 16-23 with 24-31; no DIFF on the upper channel of a
  pair); RSE, NRSE, DIFF (no pseudodifferential).  "Timing": the 100 MHz timebase (also 20 MHz,
  100 kHz) divided by an integer makes the sample clock.  "Watchdog Timer": digital lines only.
* **NI 6361/6363 Specifications** (NI 374650): 32 SE / 16 DIFF AI, ranges ±0.1, ±0.2, ±0.5,
  ±1, ±2, ±5, ±10 V, input FIFO 2,047 samples; 4 AO, ±10 V / ±5 V, output FIFO 8,191 samples
  shared by the channels, max update rate 2.86 MS/s (1 ch), 2.00 (2), 1.54 (3), 1.25 MS/s
  (4 ch); 48 DIO lines (port 0: 32), 4 counters.
* **NI 6341/6343 Specifications** (NI 374649): 32 SE / 16 DIFF AI, ranges ±0.2, ±1, ±5,
  ±10 V, input FIFO 4,095 samples; 4 AO, ±10 V, output FIFO 8,191 samples; 48 DIO, 4
  counters; USB (bulk transfers: errors -50405 / -200361 when the bus drops data).  AO update
  rate per channel: 900 kS/s (1 ch), 840 (2), 775 (3), 719 kS/s (4 ch) — the specifications of
  the PCIe-632x and PXIe-634x as quoted to NI in Service Request #7414989 (NI Corrective Action
  Request 482143), in ScanImage's ``+scanimage/+util/daqTaskGetMaxSampleRate.m`` (Vidrio
  Technologies; a copy of ScanImage 2022.0.0 in github.com/Thomey3/OT_matlab,
  ``SI2022.0.0_2022-07-19-214614_29e163d768/+scanimage/+util/daqTaskGetMaxSampleRate.m``).
  The USB-6343 is an NI 6343 and shares that sheet.  The same report says NI-DAQmx's
  ``SampClk.MaxRate`` reads 917,431.19 S/s (= 100 MHz / 109) for these boards whatever the
  channel count, and a multi-channel AO task started at that rate fails with -200018 (DAC
  conversion attempted before data was available); the driver query below reads 917,431 S/s
  on a real USB-6343 too.  So the simulated USB-6343 reports ``AO.MaxRate`` 917,431.19 S/s
  as the driver does, and refuses a sample clock above the sheet's rate for the task's
  channel count (-200332) when it is configured — earlier than the real board, which fails
  only when the task runs.
* **NI 6738/6739 Specifications** (NI 377968, not read here): 32 AO, ±10 V; no analog
  input; 4 counters; DIO port 0: 2 lines (hardware-timed), port 1: 8 lines — the 32 AO, ±10 V,
  1 MS/s maximum AO rate, 4 counters and the 2 + 8 DIO lines are what NI-DAQmx itself reports
  for a real PCIe-6738 (driver query below).  **Banks**: the outputs are in banks of four
  sequential channels (ao0-ao3, ao4-ao7, …); 1 MS/s holds only with one channel per bank, and
  with two outputs of one bank in the task (ao0 and ao1) the rate drops to 350 kS/s, which
  NI-DAQmx does not know (it reports 1 MS/s and the task fails when it starts): labscript
  suite issue #91, "NI-6738 AO sample clock too high",
  https://github.com/labscript-suite/labscript-devices/issues/91 (a user's report on a real
  6738; the same report sets 400 kS/s as its workaround).  *confirm* the shared-bank figure
  (350 vs 400 kS/s) on NI 377968; the simulated 6738 refuses above 350 kS/s when any bank
  has two outputs in the task.  Its output FIFO (8,191 samples here) is *confirm*: no NI
  sheet stating it was found.
* **Driver query** (NI-DAQmx device attributes read from real boards — AO.MaxRate, AI
  rates, physical channels, DIO lines per port — published by the labscript suite in
  ``labscript_devices/NI_DAQmx/models/capabilities.json``,
  https://github.com/labscript-suite/labscript-devices): PCIe-6738 max AO rate 1,000,000
  S/s, 32 AO, ±10 V, 4 CI, port0 2 lines, port1 8 lines; USB-6343 max AO rate 917,431 S/s,
  32 AI, 4 AO, AI 500 kS/s single / 500 kS/s aggregate, ports 32 / 8 / 8; PCIe-6363 max AO
  rate 2,857,143 S/s (the 2.86 MS/s one-channel figure), AI 2 MS/s / 1 MS/s.  ScanImage's
  ``daqTaskGetMaxSampleRate.m`` (above) holds the NI 6363 sheet's AO rates too: 2.8571,
  2, 1.54, 1.25 MS/s for 1-4 channels.
* **cDAQ-9185/9189 User Manual and Specifications** (NI 376942): 80 MHz, 20 MHz, 100 kHz
  timebases; watchdog with AO and DO expiration states.  **NI 9205** (NI 374188): 32 SE /
  16 DIFF (AI <i> with AI <i+8>), ±0.2, ±1, ±5, ±10 V, 250 kS/s aggregate, RSE / NRSE / DIFF.
  **NI 9264** (NI 374249): 16 AO, ±10 V, 25 kS/s/ch on all channels simultaneously.
  **NI 9263**: 4 AO, ±10 V, 100 kS/s/ch.  The FIFO sizes below (NI 9205 input 127 samples,
  NI 9264 / NI 9263 output 8,191 samples; on a cDAQ the FIFOs are the chassis's: "data is
  moved from a host buffer to the NI cDAQ-9172 onboard FIFO before it is written to the C
  Series I/O modules", NI cDAQ-9172 User Guide and Specifications, "Buffered Analog Output")
  are *confirm*: no NI sheet stating them was found (searched: NI's cDAQ-9178/9181/9185/9189 and
  C Series pages, NI's "Specifications Explained" pages, GitHub code).

Where a figure could not be checked against the document here it says *confirm* (also in
docs/ni-hardware.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mock_daq.nigrpc import constants as K

X_TERMINALS = (K.TERM_RSE, K.TERM_NRSE, K.TERM_DIFF)


@dataclass(frozen=True)
class Product:
    """One NI device (a board, or a C Series module)."""

    product_type: str
    category: int = K.CATEGORY_X_SERIES
    bus: int = K.BUS_PCIE
    n_ai: int = 0  # single-ended physical inputs
    n_ao: int = 0
    ai_ranges_V: tuple[float, ...] = ()
    ao_ranges_V: tuple[float, ...] = ()
    ai_max_single_rate_hz: float = 0.0
    ai_max_multi_rate_hz: float = 0.0  # aggregate, shared among the channels of a task
    ai_simultaneous: bool = False
    ao_max_rate_hz: tuple[float, ...] = ()  # per channel, for 1, 2, … channels in the task (last repeats)
    ao_max_rate_reported_hz: float = 0.0  # what NI-DAQmx reports as AO.MaxRate, where it differs from the sheet
    ao_bank_size: int = 0  # outputs per bank (PCIe-6738: 4); 0: no banks
    ao_bank_shared_rate_hz: float = 0.0  # per-channel limit once a bank has two outputs in the task
    timebase_hz: float = 100e6
    ai_terminals: tuple[int, ...] = X_TERMINALS
    diff_pair_offset: int = 8  # DIFF: AI <i> with AI <i+offset> within each bank of 2*offset
    ai_fifo_samples: int = 0
    ao_fifo_samples: int = 0
    n_do_lines: int = 0  # port 0 lines offered for static DO (the interlock)
    dio_ports: tuple[int, ...] = ()  # lines per DIO port, as the device lists them
    n_ci: int = 0
    watchdog: str = ""  # "dio" (X Series) | "" (none; a C Series module: the chassis has it)
    product_num: int = 0
    unsupported: frozenset[int] = field(default_factory=frozenset)  # attribute ids refused with -200197
    usb: bool = False

    @property
    def ai_min_rate_hz(self) -> float:
        """The slowest sample clock: the timebase over the 32-bit divisor's maximum."""
        return self.timebase_hz / 2 ** 32 if self.n_ai else 0.0

    def ao_max_rate(self, n_channels: int, ao_indices: Sequence[int] = ()) -> float:
        """The fastest AO update rate per channel for a task of ``n_channels`` outputs
        (``ao_indices``: their numbers, ao<i>).  On a banked board it falls to the shared-bank
        rate once two of the outputs are in one bank; without the numbers, once there are more
        outputs than banks (two must then share one)."""
        if not self.ao_max_rate_hz:
            return 0.0
        top = self.ao_max_rate_hz[min(max(1, n_channels), len(self.ao_max_rate_hz)) - 1]
        if self.ao_bank_size:
            banks = [i // self.ao_bank_size for i in ao_indices]
            shared = len(set(banks)) < len(banks) if banks else n_channels > self.n_ao // self.ao_bank_size
            if shared:
                top = min(top, self.ao_bank_shared_rate_hz)
        return top

    @property
    def ao_max_rate_reported(self) -> float:
        """``Dev.AO.MaxRate`` as NI-DAQmx reports it (the driver's figure where it is known to
        differ from the sheet's one-channel rate)."""
        return self.ao_max_rate_reported_hz or self.ao_max_rate(1)

    def diff_partner(self, index: int) -> int | None:
        """The negative input of AI <index> in DIFF mode, or None if it cannot be DIFF
        (it is itself the negative input of a pair)."""
        bank = 2 * self.diff_pair_offset
        if index % bank >= self.diff_pair_offset:
            return None
        return index + self.diff_pair_offset


# X Series MIO: no programmable AI lowpass filter, DC coupling only, and no AO idle-output
# behaviour (NI-DAQmx Help, "Device Considerations" per property: supported on the NI 67xx
# analog output and some C Series modules, not on MIO X Series).
_X_UNSUPPORTED = frozenset({K.CHAN_AI_LOWPASS_ENABLE, K.CHAN_AI_COUPLING, K.CHAN_AO_IDLE_OUTPUT_BEHAVIOR})

PCIE_6363 = Product(
    "PCIe-6363", n_ai=32, n_ao=4, ai_ranges_V=(0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0), ao_ranges_V=(5.0, 10.0),
    ai_max_single_rate_hz=2.0e6, ai_max_multi_rate_hz=1.0e6, ao_max_rate_hz=(2.86e6, 2.0e6, 1.54e6, 1.25e6),
    ao_max_rate_reported_hz=100e6 / 35,  # 2,857,142.86 S/s: the driver query
    ai_fifo_samples=2047, ao_fifo_samples=8191, n_do_lines=32, dio_ports=(32, 8, 8), n_ci=4, watchdog="dio",
    product_num=0x7435C4C4,
    unsupported=_X_UNSUPPORTED)
USB_6343 = Product(
    "USB-6343", bus=K.BUS_USB, n_ai=32, n_ao=4, ai_ranges_V=(0.2, 1.0, 5.0, 10.0), ao_ranges_V=(10.0,),
    ai_max_single_rate_hz=500e3, ai_max_multi_rate_hz=500e3, ao_max_rate_hz=(900e3, 840e3, 775e3, 719e3),
    ao_max_rate_reported_hz=100e6 / 109,  # 917,431.19 S/s: the driver query and NI SR #7414989
    ai_fifo_samples=4095, ao_fifo_samples=8191, n_do_lines=32, dio_ports=(32, 8, 8), n_ci=4, watchdog="dio", usb=True,
    unsupported=_X_UNSUPPORTED)
# PCIe-6738: 1 MS/s and 32 AO from the driver query; banks of 4 outputs, 350 kS/s once a bank
# has two outputs in the task (labscript-devices issue #91; the figure is *confirm*); the
# 8,191-sample FIFO is *confirm* (NI 377968 not read here); DIO 2 + 8 lines from the driver query.
PCIE_6738 = Product(
    "PCIe-6738", category=K.CATEGORY_AO_SERIES, n_ai=0, n_ao=32, ao_ranges_V=(10.0,),
    ao_max_rate_hz=(1.0e6,), ao_bank_size=4, ao_bank_shared_rate_hz=350e3, ao_fifo_samples=8191,
    n_do_lines=2, dio_ports=(2, 8), n_ci=4, watchdog="dio", unsupported=frozenset({K.CHAN_AI_LOWPASS_ENABLE, K.CHAN_AI_COUPLING}))
# C Series FIFOs (127 / 8,191 samples): *confirm* (no NI sheet stating them was found).
NI_9205 = Product(
    "NI 9205", category=K.CATEGORY_C_SERIES_MODULE, bus=K.BUS_TCPIP, n_ai=32, ai_ranges_V=(0.2, 1.0, 5.0, 10.0),
    ai_max_single_rate_hz=250e3, ai_max_multi_rate_hz=250e3, timebase_hz=80e6, ai_fifo_samples=127,
    unsupported=_X_UNSUPPORTED)
NI_9264 = Product(
    "NI 9264", category=K.CATEGORY_C_SERIES_MODULE, bus=K.BUS_TCPIP, n_ao=16, ao_ranges_V=(10.0,),
    ao_max_rate_hz=(25e3,), timebase_hz=80e6, ao_fifo_samples=8191, unsupported=_X_UNSUPPORTED)
NI_9263 = Product(
    "NI 9263", category=K.CATEGORY_C_SERIES_MODULE, bus=K.BUS_TCPIP, n_ao=4, ao_ranges_V=(10.0,),
    ao_max_rate_hz=(100e3,), timebase_hz=80e6, ao_fifo_samples=8191, unsupported=_X_UNSUPPORTED)

# ionto's own simulated board (no --product): X Series behaviour (timebase, DIFF pairs,
# terminals) with room for any rig's channels.
SIMRIG = Product(
    "ionto SimRig", n_ai=16, n_ao=8, ai_ranges_V=PCIE_6363.ai_ranges_V, ao_ranges_V=(5.0, 10.0),
    ai_max_single_rate_hz=2.0e6, ai_max_multi_rate_hz=1.0e6, ao_max_rate_hz=(1.0e6,), ai_fifo_samples=2047,
    ao_fifo_samples=8191, n_do_lines=8, dio_ports=(8,), n_ci=4, watchdog="dio")


@dataclass(frozen=True)
class Profile:
    """What ``--product`` selects: one board, or a cDAQ chassis with its modules."""

    key: str
    modules: tuple[Product, ...]
    chassis_product: str = ""  # "cDAQ-9189": the modules are cDAQ1Mod1, cDAQ1Mod2, …

    @property
    def title(self) -> str:
        inner = " + ".join(m.product_type for m in self.modules)
        return f"{self.chassis_product} ({inner})" if self.chassis_product else inner


PROFILES: dict[str, Profile] = {
    "pcie-6363": Profile("pcie-6363", (PCIE_6363,)),
    "usb-6343": Profile("usb-6343", (USB_6343,)),
    "pcie-6738": Profile("pcie-6738", (PCIE_6738,)),
    "cdaq-9189": Profile("cdaq-9189", (NI_9205, NI_9264), chassis_product="cDAQ-9189"),
    "cdaq-9189-9263": Profile("cdaq-9189-9263", (NI_9205, NI_9263), chassis_product="cDAQ-9189"),
}


def profile(name: str) -> Profile:
    """The profile of ``name`` (case-insensitive); ValueError names the choices."""
    key = name.strip().lower()
    if key not in PROFILES:
        raise ValueError(f"unknown product {name!r}; one of {', '.join(PROFILES)}")
    return PROFILES[key]
