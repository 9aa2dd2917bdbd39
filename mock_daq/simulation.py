"""The simulated preparation: barrel currents in, AI samples and ground truth out.

Per sample: the pump clips the commanded currents at compliance (``pump``), and the
electrode sums background noise (``electrode``), the spike waveforms (``neuron``), the
artefact of the net tip current and any noise burst; the ADC scales, clips and quantises.

Per model step (``time_step_ms``, 10 ms by default), on a grid of absolute sample indices
n·G: the step's mean delivered currents give the drug release (``pump``), releases give
the concentration at each neuron at each grid time (``diffusion``), concentrations give
each neuron's drive rate (``pharmacology``) and its spikes over the step (``neuron``).
Grid time n uses the release of steps < n only, so nothing needs samples not yet given.

Generation is a pure function of (configuration, seed, currents per sample): the noise
is addressed by absolute sample index, and everything stateful advances a whole model step
at a time, so the samples do not depend on how the run is cut into blocks.

Ground truth (``drain_truth``), one row per completed model step at ``truth_index``:
``expected_rate_hz`` (n, n_neurons; noiseless, dead time included), ``drive_rate_hz``
(λ before dead time), ``concentration_uM`` (n, n_drugs; at neuron 0),
``neuron_concentration_uM`` (n, n_neurons, n_drugs; with several neurons),
``delivered_nA`` (n, n_barrels; step means), ``release_fmol_s`` (n, n_drugs), and
``spike_index/neuron{k}`` (int64; the waveform's first sample, the trough is
``neuron.TROUGH_MS`` later).  With a simulated stimulus (``mock_daq.stimulus``):
``stimulus_drive_hz`` (n,) and ``drug_fraction`` (n, n_neurons), and its trials in the
event stream (``drain_events``).

Thread: used by one thread at a time (the engine thread, through ``SimDevice``).
"""

from __future__ import annotations

import numpy as np

from daq.errors import ConfigError
from daq.rig import RigConfig
from daq.trials import StimulusRequest
from daq.types import AIChannel, ChannelKind, LogEvent
from mock_daq.diffusion import DiffusionField, Medium, PointSourceKernel, fmol_per_s_per_nA
from mock_daq.electrode import BurstNoise, NoiseFrames, adc_scale_V, quantise
from mock_daq.faults import FaultTimeline
from mock_daq.model import DrugModel, SimConfig
from mock_daq.neuron import TROUGH_MS, SpikeRenderer, SpikeTrains
from mock_daq.pharmacology import Receptors, observed_rate_hz
from mock_daq.pump import Pump
from mock_daq.stimulus import StimulusGenerator

MODEL_NAME = "ionto mock_daq 2: pump, point-source diffusion, receptors, renewal neurons, electrode"
MIN_SPIKE_RATE_HZ = 5000.0  # below this a 0.3-ms spike trough falls between samples


class Simulation:
    """Generates the AI samples of a rig for given commanded barrel currents."""

    def __init__(self, rig: RigConfig, sim: SimConfig, ai: tuple[AIChannel, ...], seed: int | None = None,
                 faults: FaultTimeline | None = None):
        self.rig, self.sim, self.ai = rig, sim, ai
        self.fs = rig.rate_hz
        if sim.neurons and self.fs < MIN_SPIKE_RATE_HZ:
            raise ConfigError(f"rig {rig.name!r}: rate_hz {self.fs:g} cannot show the simulated neurons' spikes "
                              f"(their trough lasts a few tenths of a millisecond); use at least "
                              f"{MIN_SPIKE_RATE_HZ:g} Hz (extracellular recordings run at 20–50 kHz)")
        self.seed = sim.seed if seed is None else seed
        self.barrels = rig.pipette.barrels
        self.faults = faults if faults is not None else FaultTimeline(self.fs, rig.pipette.names, sim.faults)
        self.step = max(1, round(sim.time_step_ms * 1e-3 * self.fs))  # samples per model step (G)
        self.dt_s = self.step / self.fs
        # the simulated drugs: those on drug barrels that have a model (a drug on several barrels once)
        names: list[str] = []
        for b in self.barrels:
            if b.role == "drug" and sim.drug(b.drug) is not None and b.drug.lower() not in [n.lower() for n in names]:
                names.append(b.drug)
        self.drug_names = names
        self.drug_models: list[DrugModel] = [sim.drug(n) for n in names]  # type: ignore[misc]
        self.neurons = sim.neurons
        self.pump = Pump(rig, sim, names)
        self.receptors = Receptors(names, self.drug_models, self.neurons)
        self.kernels = [[PointSourceKernel(nm.distance_um, self._medium(m), self.dt_s) for m in self.drug_models]
                        for nm in self.neurons]
        self.field = DiffusionField(self.kernels)
        self.trains = SpikeTrains(self.neurons, self.fs, self.seed)
        self.renderer = SpikeRenderer(self.neurons, self.fs)
        self.stimulus = self._stimulus()
        self.lost_at: list[int | None] = []
        self.faults_changed()
        self._setup_channels()
        # model-step state
        self._acc: list[np.ndarray] = []  # delivered currents (n_barrels, k) of the step being filled
        self._acc_n = 0
        self._completed = 0  # steps whose currents are all in (= releases pushed)
        self._opened = 0  # steps whose concentrations, rates and spikes are computed
        self._pend_base = 0  # step of the first row of the opened, not yet emitted, rows
        self._pend_conc = np.zeros((0, len(self.neurons), len(names)))
        self._pend_lam = np.zeros((0, len(self.neurons)))
        self._spikes: list[list[int]] = [[] for _ in self.neurons]  # not yet emitted as truth
        self._refractory_ms = np.array([nm.refractory_ms for nm in self.neurons])
        self.truth_buffer: dict[str, list[np.ndarray]] = self._empty_truth()
        self.events: list[LogEvent] = []
        self.index = 0  # next sample index to generate

    def _stimulus(self) -> StimulusGenerator | None:
        st = self.sim.stimulus
        if st is None:
            return None
        lower = [n.lower() for n in self.drug_names]
        drug = lower.index(st.modulation.drug.lower()) if st.modulation and st.modulation.drug.lower() in lower else None
        return StimulusGenerator(st, self.fs, self.seed, len(self.neurons), drug)

    def faults_changed(self) -> None:
        """Call after adding a fault to the timeline."""
        self.lost_at = [self.faults.neuron_lost_at(k) for k in range(len(self.neurons))]

    def _medium(self, m: DrugModel) -> Medium:
        return Medium(self.sim.alpha, self.sim.tortuosity, m.diffusion_cm2_s, m.uptake_per_s)

    def _setup_channels(self) -> None:
        rig, nz = self.rig, self.sim.noise
        el_phys = [e.physical for e in rig.electrodes]
        self.counts_per_unit = np.zeros(len(self.ai))
        self.el_cols: list[int] = []
        self.el_of_col: list[int] = []
        self.mon_cols: list[int] = []
        self.mon_barrels: list[int] = []
        self.marker_cols: list[int] = []
        self.volt_cols: list[int] = []
        self.volt_barrels: list[int] = []
        for c, ch in enumerate(self.ai):
            scale = adc_scale_V(ch.range_V)
            if ch.kind == ChannelKind.ELECTRODE and ch.physical in el_phys:
                self.el_cols.append(c)
                self.el_of_col.append(el_phys.index(ch.physical))
                self.counts_per_unit[c] = 1e-6 * ch.gain / scale
            elif ch.kind == ChannelKind.CURRENT_MONITOR and ch.barrel is not None:
                self.mon_cols.append(c)
                self.mon_barrels.append(rig.pipette.index(ch.barrel))
                self.counts_per_unit[c] = ch.gain / scale
            elif ch.kind == ChannelKind.MARKER:
                self.marker_cols.append(c)
                self.counts_per_unit[c] = 1.0 / scale
            elif ch.kind == ChannelKind.OTHER and ch.barrel is not None:  # a source's barrel-voltage output
                self.volt_cols.append(c)
                self.volt_barrels.append(rig.pipette.index(ch.barrel))
                self.counts_per_unit[c] = ch.gain / scale
        # electrode e -> its column among the electrode columns (-1: not acquired)
        self.electrode_pos = [self.el_of_col.index(e) if e in self.el_of_col else -1
                              for e in range(len(rig.electrodes))]
        self.noise = NoiseFrames(self.seed, self.fs, len(self.el_cols), np.full(len(self.mon_cols), nz.monitor_noise_nA),
                                 nz)
        self.burst_noise = BurstNoise(self.seed, len(self.el_cols))
        self._el_cpu = self.counts_per_unit[self.el_cols].astype(np.float32)[:, None]
        self._mon_cpu = self.counts_per_unit[self.mon_cols][:, None]
        self._marker_cpu = self.counts_per_unit[self.marker_cols][:, None]
        marker = self.sim.marker
        names = marker.barrels if marker.barrels is not None else [b.name for b in self.barrels if b.role == "drug"]
        self._marker_idx = [rig.pipette.index(n) for n in names]
        self._marker_pol = [self.barrels[j].polarity for j in self._marker_idx]

    # --- generation ---------------------------------------------------------------------
    def generate(self, start: int, commanded_nA: np.ndarray) -> np.ndarray:
        """AI samples (int16, shape (n, n_ai)) for samples ``start..start+n-1`` given the
        commanded barrel currents (n, n_barrels).  Must be called with consecutive ranges."""
        cmd = np.ascontiguousarray(np.asarray(commanded_nA, dtype=np.float64).T)
        return np.ascontiguousarray(self.generate_cm(start, cmd).T)

    def generate_cm(self, start: int, cmd: np.ndarray) -> np.ndarray:
        """Channel-major ``generate``: commanded currents (n_barrels, n) → int16 (n_ai, n)."""
        if start != self.index:
            raise ValueError(f"simulation expected sample {start} to be {self.index}")
        n = cmd.shape[1]
        stop = start + n
        cmd = self.faults.rewire(start, cmd)  # swapped command lines (a wiring fault)
        resistance = self.faults.resistance(self.pump.resistance_MOhm, start, n)
        delivered = self.pump.deliver(cmd, resistance)
        completed = self._complete_steps(delivered)
        self._open_steps(stop)
        self._emit_truth(*completed)
        out = np.empty((len(self.ai), n), dtype=np.int16)
        el_bg, mon_bg = self.noise.take(start, n)
        if self.el_cols:
            k = self.sim.noise.artefact_uV_per_nA
            net = delivered.sum(axis=0)
            if k and (net.max() > 1e-9 or net.min() < -1e-9):
                uV = el_bg + (k * net).astype(np.float32)[None, :]
            else:
                uV = el_bg.copy()
            self._add_bursts(start, uV)
            self.renderer.render(start, uV, self.electrode_pos)
            out[self.el_cols] = quantise(uV, self._el_cpu)
        if self.mon_cols:
            nA = mon_bg + delivered[self.mon_barrels]
            out[self.mon_cols] = quantise(nA, self._mon_cpu)
        if self.volt_cols:  # I·R across the barrel (nA · MΩ = mV), within the compliance
            r = resistance[self.volt_barrels] if resistance.ndim == 2 else resistance[self.volt_barrels][:, None]
            volts = np.clip(delivered[self.volt_barrels] * r * 1e-3, -self.pump.compliance_V, self.pump.compliance_V)
            out[self.volt_cols] = quantise(volts, self.counts_per_unit[self.volt_cols][:, None])
        if self.marker_cols:
            m = self.sim.marker
            high = np.zeros(n, dtype=bool)
            for j, pol in zip(self._marker_idx, self._marker_pol):
                c = cmd[j]
                high |= (np.abs(c) if pol == 0 else c * pol) > m.threshold_nA
            volts = np.where(high, m.high_V, 0.0)[None, :]
            out[self.marker_cols] = quantise(volts, self._marker_cpu)
        if self.stimulus is not None:
            self.events.extend(self.stimulus.events_before(stop))
        self.events.extend(self.faults.announcements(stop))
        self.index = stop
        return out

    def skip(self, start: int, commanded_nA: np.ndarray) -> None:
        """Advance over samples that the device loses (channel-major currents (n_barrels, n)):
        the preparation lives on, nothing is returned."""
        self.generate_cm(start, commanded_nA)

    def _add_bursts(self, start: int, uV: np.ndarray) -> None:
        n = uV.shape[1]
        for b in self.faults.bursts(start, n):
            a, z = max(b.start, start) - start, min(b.stop, start + n) - start
            noise = self.burst_noise.take(start + a, z - a)
            noise *= np.float32(b.rms_uV)
            if b.electrode is None:
                uV[:, a:z] += noise
            elif self.electrode_pos[b.electrode] >= 0:
                row = self.electrode_pos[b.electrode]
                uV[row, a:z] += noise[row]

    def _complete_steps(self, delivered: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        """Add delivered currents; for every model step now complete, compute its release.
        Returns (first completed step, mean delivered currents (k, n_barrels), releases
        (k, n_drugs))."""
        self._acc.append(delivered)
        self._acc_n += delivered.shape[1]
        g = self.step
        first = self._completed
        k = self._acc_n // g
        if k == 0:
            return first, np.zeros((0, len(self.barrels))), np.zeros((0, len(self.drug_names)))
        full = np.concatenate(self._acc, axis=1) if len(self._acc) > 1 else self._acc[0]
        means = full[:, :k * g].reshape(full.shape[0], k, g).mean(axis=2).T
        q = self.pump.release(means, self.dt_s)
        rest = full[:, k * g:]
        self._acc = [rest] if rest.shape[1] else []
        self._acc_n = rest.shape[1]
        self._completed += k
        if self.drug_names:
            self.field.push(q)
        return first, means, q

    def _open_steps(self, stop: int) -> None:
        """Concentrations, rates and spikes of every model step that starts before ``stop``."""
        hi = (stop - 1) // self.step + 1
        n_new = hi - self._opened
        if n_new <= 0:
            return
        n_k = len(self.neurons)
        conc = self.field.concentrations(n_new) if self.drug_names else np.zeros((n_new, n_k, 0))
        lam = self.receptors.drive_rate_hz(conc)
        g = self.step
        first = self._opened
        starts = (first + np.arange(n_new)) * g
        if self.stimulus is not None:
            lam = self.stimulus.apply(starts, g, lam, conc)
        for k, lost in enumerate(self.lost_at):
            if lost is not None:
                lam[starts >= lost, k] = 0.0
        for i in range(n_new):
            a = (first + i) * g
            for k, samples, amps in self.trains.step(a, a + g, lam[i]):
                lost = self.lost_at[k]
                if lost is not None and samples[-1] >= lost:
                    keep = [j for j, x in enumerate(samples) if x < lost]
                    samples, amps = [samples[j] for j in keep], [amps[j] for j in keep]
                self.renderer.add(k, samples, amps)
                self._spikes[k].extend(samples)
        self._pend_conc = np.concatenate([self._pend_conc, conc]) if self._pend_conc.size else conc
        self._pend_lam = np.concatenate([self._pend_lam, lam]) if self._pend_lam.size else lam
        self._opened = hi

    def _emit_truth(self, first: int, means: np.ndarray, q: np.ndarray) -> None:
        """Truth rows of the completed steps ``first .. first + len(means) - 1``."""
        k = means.shape[0]
        if k == 0:
            return
        i0 = first - self._pend_base
        conc = self._pend_conc[i0:i0 + k]
        lam = self._pend_lam[i0:i0 + k]
        self._pend_conc = self._pend_conc[i0 + k:]
        self._pend_lam = self._pend_lam[i0 + k:]
        self._pend_base = first + k
        tb = self.truth_buffer
        tb["truth_index"].append((first + np.arange(k, dtype=np.int64)) * self.step)
        tb["expected_rate_hz"].append(observed_rate_hz(lam, self._refractory_ms).astype(np.float32))
        tb["drive_rate_hz"].append(lam.astype(np.float32))
        tb["delivered_nA"].append(means.astype(np.float32))
        if self.drug_names:
            tb["concentration_uM"].append(conc[:, 0, :].astype(np.float32))
            if len(self.neurons) > 1:
                tb["neuron_concentration_uM"].append(conc.astype(np.float32))
            tb["release_fmol_s"].append(q.astype(np.float32))
        if self.stimulus is not None:
            for name, rows in self.stimulus.take_truth(k).items():
                tb.setdefault(name, []).append(rows)
        end = (first + k) * self.step
        for n_i, pending in enumerate(self._spikes):
            if pending and pending[0] < end:
                j = next((i for i, x in enumerate(pending) if x >= end), len(pending))
                tb.setdefault(f"spike_index/neuron{n_i}", []).append(np.asarray(pending[:j], dtype=np.int64))
                del pending[:j]

    # --- ground truth -------------------------------------------------------------------
    def _empty_truth(self) -> dict[str, list[np.ndarray]]:
        names = ["truth_index", "expected_rate_hz", "drive_rate_hz", "delivered_nA"]
        if self.drug_names:
            names += ["concentration_uM", "release_fmol_s"]
            if len(self.neurons) > 1:
                names.append("neuron_concentration_uM")
        return {n: [] for n in names}

    def drain_truth(self) -> dict[str, np.ndarray]:
        out = {k: np.concatenate(v) for k, v in self.truth_buffer.items() if v}
        self.truth_buffer = self._empty_truth()
        return out

    def show_stimulus(self, request: StimulusRequest) -> None:
        """Show a trial a protocol asked for (``simulation.stimulus.mode: driven``)."""
        if self.stimulus is None:
            raise ConfigError(f"rig {self.rig.name!r}: the simulation shows no stimulus; add a simulation.stimulus "
                              "section with mode: driven (docs/trials.md)")
        self.stimulus.show(request)

    def drain_events(self) -> list[LogEvent]:
        out, self.events = self.events, []
        return out

    def steady_concentration_uM(self, barrel: str, eject_nA: float, neuron: int = 0) -> float:
        """Steady-state concentration at a neuron for a long ejection of ``eject_nA`` (magnitude)
        from one drug barrel, the spontaneous leak included."""
        j = self.rig.pipette.index(barrel)
        for db in self.pump.drug_barrels:
            if db.column == j:
                kern = self.kernels[neuron][db.drug]
                return kern.steady_uM * db.fmol_s_per_nA * (abs(eject_nA) + db.model.leak_nA)
        raise KeyError(f"barrel {barrel!r} holds no simulated drug")

    def metadata(self) -> dict:
        """The model and its parameters (stored once in the recording's /ground_truth)."""
        drugs = []
        for d, (name, m) in enumerate(zip(self.drug_names, self.drug_models)):
            per_nA = fmol_per_s_per_nA(m.transport_number, m.valence)
            steady = [self.kernels[k][d].steady_uM * per_nA for k in range(len(self.neurons))]
            entry = {"name": name, "barrels": [self.barrels[db.column].name for db in self.pump.drug_barrels
                                               if db.drug == d],
                     "effect": m.effect, "fmol_s_per_nA": per_nA, "steady_uM_per_nA": steady}
            if m.effect in ("excitatory", "inhibitory"):
                # ejecting current whose steady concentration (leak included) is the EC50, per neuron
                entry["ec50_nA_steady"] = [m.ec50_uM / s - m.leak_nA for s in steady]
            mod = self.sim.stimulus.modulation if self.sim.stimulus is not None else None
            if mod is not None and mod.drug.lower() == name.lower():  # the stimulus gain's half-effect current
                entry["modulation_ec50_nA_steady"] = [mod.ec50_uM / s - m.leak_nA for s in steady]
            drugs.append(entry)
        return {
            "model": MODEL_NAME,
            "seed": self.seed,
            "rate_hz": self.fs,
            "time_step_s": self.dt_s,
            "truth_decimation": self.step,
            "truth_rate_hz": self.fs / self.step,
            "truth_index_meaning": "first sample of each model step; rates and concentrations hold over the step",
            "spike_index_meaning": f"first sample of the waveform; the trough is {TROUGH_MS} ms later",
            "drugs": drugs,
            "neurons": [{**nm.model_dump(mode="json"),
                         "trough_offset_samples": round(TROUGH_MS * 1e-3 * self.fs)} for nm in self.neurons],
            "barrels": [{"name": b.name, "resistance_MOhm": float(r),
                         "max_current_nA": float(self.pump.limit_nA(np.array([r]))[0])}
                        for b, r in zip(self.barrels, self.pump.resistance_MOhm)],
            "faults": self.faults.describe(),
            "stimulus": None if self.stimulus is None else self.stimulus.metadata(),
            "simulation": self.sim.model_dump(mode="json"),
        }
