"""NWB files as other labs' rigs and converters write them, built with pynwb (and, where
neuroconv has a layout of its own, in that layout): the cases of issue 15 that ionto's NWB
reader must analyse correctly or refuse with one line.

Each builder writes a small file (a few seconds at 30 kHz, spikes of a known size at known
times on the first channel) and returns its path.  ``SPIKE_EVERY_S`` and ``SPIKE_UV`` let a
test check that the analysis found the spikes it should."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO, NWBFile
from pynwb.ecephys import ElectricalSeries
from pynwb.file import Subject

RATE_HZ = 30000.0
SECONDS = 3.0
SPIKE_EVERY_S = 0.04  # one spike on channel 0 every 40 ms
SPIKE_UV = 200.0  # its (negative) size, µV
NOISE_UV = 10.0
N_SPIKES = int(SECONDS / SPIKE_EVERY_S)


def volts(n_ch: int = 2, rate_hz: float = RATE_HZ, seconds: float = SECONDS, seed: int = 3) -> np.ndarray:
    """(samples, channels) in V: Gaussian noise, and a 0.3-ms spike on channel 0 every 40 ms."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate_hz)
    x = rng.normal(0.0, NOISE_UV, size=(n, n_ch))
    width = max(1, round(3e-4 * rate_hz))
    for k in range(N_SPIKES):
        at = round((0.01 + k * SPIKE_EVERY_S) * rate_hz)
        x[at:at + width, 0] -= SPIKE_UV
    return x * 1e-6


def nwbfile(n_electrodes: int = 2, **kw) -> NWBFile:
    """An NWBFile with a subject and ``n_electrodes`` electrodes named ``ch0``, ``ch1``, ..."""
    nwb = NWBFile(session_description="a recording from another lab", identifier="case", session_id="case",
                  session_start_time=dt.datetime(2025, 5, 1, 10, 0, tzinfo=dt.UTC),
                  subject=Subject(subject_id="M9", species="Mus musculus", sex="F", age="P90D"), **kw)
    if n_electrodes == 0:  # neuroconv adds its own device, group and electrodes
        return nwb
    dev = nwb.create_device(name="amplifier")
    grp = nwb.create_electrode_group("shank0", description="shank", location="CA1", device=dev)
    nwb.add_electrode_column("channel_name", "channel name")
    for k in range(n_electrodes):
        nwb.add_electrode(group=grp, location="CA1", channel_name=f"ch{k}")
    return nwb


def write(nwb: NWBFile, path: Path) -> Path:
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def region(nwb: NWBFile, rows: list[int]):
    return nwb.create_electrode_table_region(rows, "the recorded electrodes")


def _si_recording(x: np.ndarray, rate_hz: float, gain_uV: float = 1.0, offset_uV: float = 0.0):
    """A SpikeInterface recording of stored values ``x`` (× gain + offset = µV)."""
    import spikeinterface.core as si

    rec = si.NumpyRecording([x], sampling_frequency=rate_hz)
    rec.set_channel_gains(gain_uV)
    rec.set_channel_offsets(offset_uV)
    return rec


def _neuroconv_write(path: Path, *recordings: tuple) -> Path:
    """Write SpikeInterface recordings as neuroconv does (``add_recording_to_nwbfile``): each
    ``(recording, es_key, write_as)``."""
    from neuroconv.tools.spikeinterface import add_recording_to_nwbfile

    nwb = nwbfile(0)
    for rec, es_key, write_as in recordings:
        with warnings.catch_warnings():  # neuroconv's notes on its own API's future (write_as, metadata form)
            warnings.simplefilter("ignore", FutureWarning)
            add_recording_to_nwbfile(recording=rec, nwbfile=nwb, es_key=es_key, write_as=write_as,
                                     metadata={"Ecephys": {es_key: {"name": es_key, "description": es_key}}})
    return write(nwb, path)


INTAN_STEP_UV = 0.195  # µV per count (Intan RHD amplifiers, as SpikeInterface's reader gives them)


def uint16_with_offset(path: Path) -> Path:
    """Intan-style unsigned counts, 0.195 µV per count around 32768, written by neuroconv:
    uint16 data, ``conversion`` 1.95e-7 and ``offset`` −6.39 mV."""
    counts = np.clip(np.rint(volts() * 1e6 / INTAN_STEP_UV) + 32768, 0, 65535).astype(np.uint16)
    rec = _si_recording(counts, RATE_HZ, INTAN_STEP_UV, -32768 * INTAN_STEP_UV)
    return _neuroconv_write(path, (rec, "ElectricalSeriesRaw", "raw"))


def lfp_only(path: Path, rate_hz: float = 1000.0) -> Path:
    """An LFP series only (1 kHz), where neuroconv puts it: processing/ecephys/LFP."""
    rec = _si_recording(volts(rate_hz=rate_hz).astype(np.float32) * 1e6, rate_hz)
    return _neuroconv_write(path, (rec, "ElectricalSeriesLFP", "lfp"))


def two_series(path: Path) -> Path:
    """A SpikeGLX-style pair as neuroconv writes it: ``ElectricalSeriesAP`` (30 kHz) in
    /acquisition and ``ElectricalSeriesLFP`` (2.5 kHz) in processing/ecephys/LFP."""
    ap = _si_recording(volts().astype(np.float32) * 1e6, RATE_HZ)
    lfp = _si_recording(volts(rate_hz=2500.0).astype(np.float32) * 1e6, 2500.0)
    return _neuroconv_write(path, (ap, "ElectricalSeriesAP", "raw"), (lfp, "ElectricalSeriesLFP", "lfp"))


def channels_first(path: Path, n_ch: int = 4, transposed: bool = True, timestamps: bool = False,
                   seconds: float = SECONDS) -> Path:
    """Data stored (channels, samples), against NWB's (samples, channels) — or, with
    ``transposed=False``, the same samples stored as NWB wants them; on ``rate`` or on
    ``timestamps``.  HDF5 chunks of 3000 samples × every channel."""
    from hdmf.backends.hdf5 import H5DataIO

    nwb = nwbfile(n_ch)
    x = volts(n_ch, seconds=seconds).astype(np.float32)
    on_disk = transposed and not timestamps  # pynwb refuses to build it with timestamps: transposed below
    data = np.ascontiguousarray(x.T) if on_disk else x
    chunks = (n_ch, min(3000, len(x))) if on_disk else (min(3000, len(x)), n_ch)
    clock = {"timestamps": np.arange(len(x)) / RATE_HZ} if timestamps else {"rate": RATE_HZ}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pynwb: "Data is oriented incorrectly and should be transposed"
        nwb.add_acquisition(ElectricalSeries(name="ElectricalSeries", data=H5DataIO(data, chunks=chunks),
                                             electrodes=region(nwb, list(range(n_ch))), **clock))
        write(nwb, path)
    if transposed and not on_disk:  # as an older writer left it: the dataset replaced by its transpose
        import h5py

        with h5py.File(path, "r+") as f:
            ds = f["acquisition/ElectricalSeries/data"]
            attrs = dict(ds.attrs)
            del f["acquisition/ElectricalSeries/data"]
            new = f["acquisition/ElectricalSeries"].create_dataset("data", data=np.ascontiguousarray(x.T),
                                                                   chunks=(n_ch, min(3000, len(x))))
            new.attrs.update(attrs)
    return path


def region_mismatch(path: Path, n_rows: int) -> Path:
    """Two data columns but an electrodes region of ``n_rows`` rows."""
    nwb = nwbfile(max(3, n_rows))
    nwb.add_acquisition(ElectricalSeries(name="ElectricalSeries", data=volts(2).astype(np.float32),
                                         electrodes=region(nwb, list(range(n_rows))), rate=RATE_HZ))
    return write(nwb, path)


def jittered(path: Path, jitter_periods: float, seed: int = 5, gap_at_s: float | None = None,
             start_s: float = 12.5) -> Path:
    """Timestamps = a regular 30 kHz clock plus uniform jitter of ± ``jitter_periods`` sample
    periods (a clock read by software), optionally with 0.25 s lost at ``gap_at_s``."""
    nwb = nwbfile()
    x = volts().astype(np.float32)
    rng = np.random.default_rng(seed)
    t = start_s + np.arange(len(x)) / RATE_HZ
    if gap_at_s is not None:
        t[round(gap_at_s * RATE_HZ):] += 0.25
    t += rng.uniform(-jitter_periods, jitter_periods, len(t)) / RATE_HZ
    nwb.add_acquisition(ElectricalSeries(name="ElectricalSeries", data=x, electrodes=region(nwb, [0, 1]),
                                         timestamps=t))
    return write(nwb, path)


def write_regular(path: Path, start_s: float = 0.0) -> Path:
    """The data of :func:`jittered` on an exact clock: ``starting_time`` + ``rate``."""
    nwb = nwbfile()
    nwb.add_acquisition(ElectricalSeries(name="ElectricalSeries", data=volts().astype(np.float32),
                                         electrodes=region(nwb, [0, 1]), rate=RATE_HZ, starting_time=start_s))
    return write(nwb, path)
