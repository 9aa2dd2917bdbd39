"""One ionto recording written again by other systems' real writers, for the Neo source tests.

* ``write_abf``: pyabf's ABF1 writer (``pyabf.abfWriter.writeABF1``), the electrode channel
  as one sweep, and the ejections in a sidecar CSV (pyabf writes one channel and no tags);
* ``write_open_ephys``: an Open Ephys binary folder as the GUI (0.6) writes it —
  ``Record Node 101/experiment1/recording1/structure.oebin`` + ``continuous/<stream>/
  continuous.dat`` (int16, channels interleaved), ``sample_numbers.npy``, ``timestamps.npy``
  (https://open-ephys.github.io/gui-docs/User-Manual/Recording-data/Binary-format.html) —
  the electrode as ``CH1`` in µV and the current monitor as ``ADC1`` in V, with its gain in
  a ``monitors.csv`` next to it (the ejections come from the monitor);
* ``write_nix``: Neo's own ``NixIO`` writer, the electrode as an AnalogSignal in volts and the
  ejections as an Epoch whose labels read ``BARREL:DRUG CURRENT nA`` (markers).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from daq.recording import Recording

ABF_COUNTS_PER_UNIT = 32768.0  # pyabf's writer: int16 = int(value × 32768 / 10 × 10) when |value| < 1


def ejection_rows(rec: Recording) -> list[tuple[str, str, float, float, float]]:
    """(barrel, drug, current_nA, start_s, end_s) of each ejection in the recording's log."""
    out, open_ = [], {}
    for e in rec.events:
        if not e.barrel:
            continue
        if e.barrel in open_:
            t0, cur = open_.pop(e.barrel)
            out.append((e.barrel, rec.pipette.barrel(e.barrel).drug, cur, t0, e.sample_index / rec.rate_hz))
        if str(e.kind) in ("eject", "current") and e.current_nA != 0:
            open_[e.barrel] = (e.sample_index / rec.rate_hz, e.current_nA)
    return sorted(out, key=lambda r: r[3])


def write_abf(rec: Recording, path: Path) -> Path:
    """The electrode channel through pyabf's writer: the same int16 counts (value = counts / 32768,
    which pyabf stores as int(value × 32768) exactly), plus ``PATH.ejections.csv``."""
    from pyabf.abfWriter import writeABF1

    counts = rec.raw(channels=[rec.channel_indices(rec.channels[0].kind)[0]])[:, 0].astype(np.float64)
    writeABF1((counts / ABF_COUNTS_PER_UNIT)[None, :], str(path), rec.rate_hz, units="mV")
    lines = ["barrel,drug,current_nA,start_s,end_s"] + [f"{b},{d},{c!r},{a!r},{z!r}" for b, d, c, a, z in
                                                        ejection_rows(rec)]
    Path(f"{path}.ejections.csv").write_text("\n".join(lines) + "\n")
    return path


def write_open_ephys(rec: Recording, root: Path, monitor: str, first_sample: int = 0) -> Path:
    """An Open Ephys binary folder of the electrode (µV) and the monitor of barrel ``monitor`` (V);
    its sample numbers start at ``first_sample`` (the acquisition board's count when recording began)."""
    e, m = rec.channel_indices(rec.channels[0].kind)[0], rec.stream.index_of(f"{monitor}_mon")
    folder = "Acquisition_Board-100.Rhythm Data"
    rec_dir = root / "Record Node 101" / "experiment1" / "recording1"
    cont = rec_dir / "continuous" / folder
    cont.mkdir(parents=True)
    data = rec.raw(channels=[e, m]).astype(np.int16)
    data.tofile(cont / "continuous.dat")  # (samples, channels) interleaved, little-endian int16
    numbers = first_sample + np.arange(rec.n_samples, dtype=np.int64)
    np.save(cont / "sample_numbers.npy", numbers)
    np.save(cont / "timestamps.npy", numbers / rec.rate_hz)
    ch_e, ch_m = rec.channels[e], rec.channels[m]
    uv_per_count = rec.stream.scale_V[e] / ch_e.gain * 1e6  # volts at the electrode, in µV
    v_per_count = rec.stream.scale_V[m]  # volts at the ADC
    oebin = {
        "GUI version": "0.6.7",
        "continuous": [{
            "folder_name": folder + "/", "sample_rate": rec.rate_hz, "source_processor_name": "Acquisition Board",
            "source_processor_id": 100, "stream_name": "Rhythm Data", "recorded_processor": "Record Node",
            "recorded_processor_id": 101, "num_channels": 2,
            "channels": [
                {"channel_name": "CH1", "description": "Headstage data channel", "identifier": "genericdata.continuous",
                 "history": "Acquisition Board -> Record Node", "bit_volts": uv_per_count, "units": "uV"},
                {"channel_name": "ADC1", "description": "ADC data channel", "identifier": "genericdata.continuous",
                 "history": "Acquisition Board -> Record Node", "bit_volts": v_per_count, "units": "V"}]}],
        "events": [], "spikes": []}
    (rec_dir / "structure.oebin").write_text(json.dumps(oebin, indent=2))
    drug = rec.pipette.barrel(monitor).drug
    (root / "monitors.csv").write_text(f"channel,barrel,drug,V_per_nA\nADC1,{monitor},{drug},{ch_m.gain!r}\n")
    return root


def write_nix(rec: Recording, path: Path) -> Path:
    """The electrode (volts at the electrode, float64) and the ejections as one labelled Epoch,
    through Neo's NixIO."""
    import quantities as pq
    from neo import AnalogSignal, Block, Epoch, Segment
    from neo.io import NixIO

    e = rec.channel_indices(rec.channels[0].kind)[0]
    rows = ejection_rows(rec)
    seg = Segment(name="recording")
    seg.analogsignals.append(AnalogSignal(rec.physical(e)[:, None], units="V", sampling_rate=rec.rate_hz * pq.Hz,
                                          name=rec.channels[e].name))
    seg.epochs.append(Epoch(times=np.array([r[3] for r in rows]) * pq.s,
                            durations=np.array([r[4] - r[3] for r in rows]) * pq.s,
                            labels=np.array([f"{b}:{d} {c:g} nA" for b, d, c, _, _ in rows]), name="ejections"))
    blk = Block(name="ionto")
    blk.segments.append(seg)
    with NixIO(str(path), mode="ow") as io:
        io.write_block(blk)
    return path
