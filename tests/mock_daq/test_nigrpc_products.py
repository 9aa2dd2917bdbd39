"""The simulated NI board as real products (``--product``), driven through the unmodified
``nidaqmx`` package over gRPC: channel counts, range and rate coercion, terminal
configurations and DIFF pairs, internal AO read-back channels, unsupported attributes,
scheduled NI faults and partial counts.  Figures: ``mock_daq/nigrpc/products.py`` (NI's
specification manuals and X Series User Manual)."""

from __future__ import annotations

import grpc
import nidaqmx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nidaqmx.constants import AcquisitionType, AOIdleOutputBehavior, TerminalConfiguration
from nidaqmx.errors import DaqError

from mock_daq import load_preset
from mock_daq.nigrpc import SimNIServer
from mock_daq.nigrpc.products import PCIE_6738, PROFILES
from tests.waiting import wait_until


class Client:
    def __init__(self, port: int):
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")

    def task(self, name: str = "") -> nidaqmx.Task:
        return nidaqmx.Task(name, grpc_options=nidaqmx.GrpcSessionOptions(self.channel, name))

    def system(self):
        return nidaqmx.system.System.remote(nidaqmx.GrpcSessionOptions(self.channel, ""))

    def close(self) -> None:
        self.channel.close()


def serve(product: str, **kw) -> SimNIServer:
    return SimNIServer(load_preset("cortex"), port=0, speed=kw.pop("speed", 1.0), seed=1, product=product, **kw)


@pytest.fixture
def pcie6363():
    with serve("pcie-6363") as s:
        c = Client(s.port)
        yield s, c
        c.close()


def test_each_product_reports_its_own_channel_counts_and_category():
    expect = {"pcie-6363": [("Dev1", "PCIe-6363", 32, 4)], "usb-6343": [("Dev1", "USB-6343", 32, 4)],
              "pcie-6738": [("Dev1", "PCIe-6738", 0, 32)],
              "cdaq-9189": [("cDAQ1Mod1", "NI 9205", 32, 0), ("cDAQ1Mod2", "NI 9264", 0, 16)]}
    for key, devices in expect.items():
        with serve(key) as s:
            c = Client(s.port)
            system = c.system()
            names = [d.name for d in system.devices]
            for name, product, n_ai, n_ao in devices:
                dev = system.devices[name]
                assert (dev.product_type, len(dev.ai_physical_chans), len(dev.ao_physical_chans)) == \
                    (product, n_ai, n_ao), key
            if key.startswith("cdaq"):
                chassis = system.devices["cDAQ1"]
                assert chassis.product_type == "cDAQ-9189" and names == ["cDAQ1", "cDAQ1Mod1", "cDAQ1Mod2"]
                assert [m.name for m in chassis.chassis_module_devices] == ["cDAQ1Mod1", "cDAQ1Mod2"]
            c.close()
    assert set(expect) <= set(PROFILES)


def test_x_series_coerces_30_kHz_to_its_100_MHz_timebase_divisor(pcie6363):
    _, c = pcie6363
    with c.task() as t:
        t.ai_channels.add_ai_voltage_chan("Dev1/ai0")
        t.timing.cfg_samp_clk_timing(30000, sample_mode=AcquisitionType.CONTINUOUS)
        assert t.timing.samp_clk_rate == pytest.approx(100e6 / 3333, rel=1e-12)  # 30003.0003 Hz
        t.timing.cfg_samp_clk_timing(20000, sample_mode=AcquisitionType.CONTINUOUS)
        assert t.timing.samp_clk_rate == 20000.0


def test_the_aggregate_rate_of_a_multiplexed_board_is_shared_by_the_channels(pcie6363):
    _, c = pcie6363
    with c.task() as t:
        t.ai_channels.add_ai_voltage_chan("Dev1/ai0:3")  # 4 channels: 1 MS/s / 4 = 250 kS/s each
        t.timing.cfg_samp_clk_timing(250e3)
        with pytest.raises(DaqError) as err:
            t.timing.cfg_samp_clk_timing(260e3)
        assert err.value.error_code == -200332


def test_pcie_6738_outputs_of_one_bank_share_a_slower_update_rate():
    # banks of four sequential outputs; 1 MS/s with one output per bank, 350 kS/s once two share
    # a bank (labscript-devices issue #91), while NI-DAQmx reports 1 MS/s either way
    with serve("pcie-6738") as s:
        c = Client(s.port)
        assert c.system().devices["Dev1"].ao_max_rate == 1e6
        with c.task() as t:  # ao0 and ao4: two banks
            t.ao_channels.add_ao_voltage_chan("Dev1/ao0")
            t.ao_channels.add_ao_voltage_chan("Dev1/ao4")
            t.timing.cfg_samp_clk_timing(1e6, sample_mode=AcquisitionType.CONTINUOUS)
        with c.task() as t:  # ao0 and ao1: one bank
            t.ao_channels.add_ao_voltage_chan("Dev1/ao0:1")
            t.timing.cfg_samp_clk_timing(250e3, sample_mode=AcquisitionType.CONTINUOUS)
            with pytest.raises(DaqError) as err:
                t.timing.cfg_samp_clk_timing(400e3, sample_mode=AcquisitionType.CONTINUOUS)
            assert err.value.error_code == -200332
        c.close()


@settings(max_examples=200, deadline=None)
@given(outputs=st.sets(st.integers(0, 31), min_size=1, max_size=32))
def test_pcie_6738_rate_is_1_MS_s_exactly_when_no_bank_holds_two_of_the_outputs(outputs):
    one_per_bank = len({i // 4 for i in outputs}) == len(outputs)
    assert PCIE_6738.ao_max_rate(len(outputs), sorted(outputs)) == (1e6 if one_per_bank else 350e3)
    assert PCIE_6738.ao_max_rate(len(outputs)) == (1e6 if len(outputs) <= 8 else 350e3)


def test_usb_6343_ao_rate_falls_with_the_channel_count_and_the_driver_figure_is_reported():
    # NI 6341/6343 sheet as quoted in NI SR #7414989 (ScanImage): 900, 840, 775, 719 kS/s for
    # 1-4 outputs; NI-DAQmx reports AO.MaxRate 917,431.19 S/s (100 MHz / 109) regardless
    with serve("usb-6343") as s:
        c = Client(s.port)
        assert c.system().devices["Dev1"].ao_max_rate == pytest.approx(100e6 / 109, rel=1e-12)
        for n, ok, too_fast in ((1, 900e3, 910e3), (2, 840e3, 850e3), (3, 775e3, 780e3), (4, 719e3, 725e3)):
            with c.task() as t:
                t.ao_channels.add_ao_voltage_chan(f"Dev1/ao0:{n - 1}")
                t.timing.cfg_samp_clk_timing(ok, sample_mode=AcquisitionType.CONTINUOUS)
                with pytest.raises(DaqError) as err:
                    t.timing.cfg_samp_clk_timing(too_fast, sample_mode=AcquisitionType.CONTINUOUS)
                assert err.value.error_code == -200332, n
        c.close()


def test_ai_ranges_are_coerced_to_the_products_ranges():
    for key, asked, got in (("pcie-6363", 3.0, 5.0), ("pcie-6363", 0.15, 0.2), ("usb-6343", 0.5, 1.0),
                            ("usb-6343", 0.15, 0.2)):
        with serve(key) as s:
            c = Client(s.port)
            with c.task() as t:
                ch = t.ai_channels.add_ai_voltage_chan("Dev1/ai1", min_val=-asked, max_val=asked)
                assert (ch.ai_rng_high, ch.ai_rng_low, ch.ai_max, ch.ai_min) == (got, -got, got, -got), key
            c.close()


def test_diff_pairs_ai_n_with_ai_n_plus_8_and_refuses_diff_on_ai8(pcie6363):
    _, c = pcie6363
    with c.task() as t:
        assert t.ai_channels.add_ai_voltage_chan("Dev1/ai0").ai_term_cfg == TerminalConfiguration.DIFF
        assert t.ai_channels.add_ai_voltage_chan("Dev1/ai9").ai_term_cfg == TerminalConfiguration.RSE
    with c.task() as t, pytest.raises(DaqError) as err:
        t.ai_channels.add_ai_voltage_chan("Dev1/ai8", terminal_config=TerminalConfiguration.DIFF)
    assert err.value.error_code == -200077 and "negative input of ai0" in str(err.value)
    with c.task() as t:  # ai8 is ai0's negative input: both in one task cannot be
        t.ai_channels.add_ai_voltage_chan("Dev1/ai0", terminal_config=TerminalConfiguration.DIFF)
        with pytest.raises(DaqError, match="negative input of Dev1/ai0"):
            t.ai_channels.add_ai_voltage_chan("Dev1/ai8", terminal_config=TerminalConfiguration.RSE)
    with c.task() as t, pytest.raises(DaqError) as err:  # X Series has no pseudodifferential inputs
        t.ai_channels.add_ai_voltage_chan("Dev1/ai1", terminal_config=TerminalConfiguration.PSEUDO_DIFF)
    assert err.value.error_code == -200077
    dev = c.system().devices["Dev1"]
    assert TerminalConfiguration.DIFF in dev.ai_physical_chans["ai0"].ai_term_cfgs
    assert TerminalConfiguration.DIFF not in dev.ai_physical_chans["ai8"].ai_term_cfgs


def test_unsupported_attribute_is_refused_and_not_stored(pcie6363):
    _, c = pcie6363
    with c.task() as t:
        ch = t.ao_channels.add_ao_voltage_chan("Dev1/ao0")
        with pytest.raises(DaqError) as err:
            ch.ao_idle_output_behavior = AOIdleOutputBehavior.ZERO_VOLTS
        assert err.value.error_code == -200197
        with pytest.raises(DaqError) as err:
            _ = ch.ao_idle_output_behavior
        assert err.value.error_code == -200197


def test_internal_channel_reads_back_what_the_output_generates(pcie6363):
    _, c = pcie6363
    with c.task("out") as ao, c.task("in") as ai:
        ao.ao_channels.add_ao_voltage_chan("Dev1/ao2")
        ao.write(1.25, auto_start=True)
        ai.ai_channels.add_ai_voltage_chan("Dev1/_ao2_vs_aognd", min_val=-2, max_val=2)
        ai.timing.cfg_samp_clk_timing(10000, sample_mode=AcquisitionType.CONTINUOUS)
        ai.start()
        got = np.asarray(ai.read(number_of_samples_per_channel=50, timeout=10.0))
        assert np.allclose(got, 1.25)


def test_a_scheduled_output_underflow_fails_the_next_write_with_its_code():
    with serve("pcie-6363") as s:
        s.hardware.schedule_fault(-200621, 0.2)
        c = Client(s.port)
        with c.task("ao") as ao, c.task("ai") as ai:
            ao.ao_channels.add_ao_voltage_chan("Dev1/ao0")
            ao.timing.cfg_samp_clk_timing(10000, source="/Dev1/ai/SampleClock", sample_mode=AcquisitionType.CONTINUOUS)
            ao.triggers.start_trigger.cfg_dig_edge_start_trig("/Dev1/ai/StartTrigger")
            ao.out_stream.regen_mode = nidaqmx.constants.RegenerationMode.DONT_ALLOW_REGENERATION
            ao.write(np.zeros(20000), auto_start=False)
            ai.ai_channels.add_ai_voltage_chan("Dev1/ai0")
            ai.timing.cfg_samp_clk_timing(10000, sample_mode=AcquisitionType.CONTINUOUS)
            ao.start()
            ai.start()
            wait_until(lambda: ("fault", 2000) in s.hardware.log, 30, what="the scheduled underflow")
            with pytest.raises(DaqError) as err:
                ao.write(np.zeros(100))
            assert err.value.error_code == -200621
        c.close()


def test_a_usb_transfer_error_only_on_a_usb_product_and_it_stops_the_reads():
    with serve("pcie-6363") as s, pytest.raises(ValueError, match="needs a USB device"):
        s.hardware.schedule_fault(-50405, 0.1)
    with serve("usb-6343") as s:
        s.hardware.schedule_fault(-50405, 0.1)
        c = Client(s.port)
        with c.task() as ai:
            ai.ai_channels.add_ai_voltage_chan("Dev1/ai0")
            ai.timing.cfg_samp_clk_timing(10000, sample_mode=AcquisitionType.CONTINUOUS)
            ai.start()
            with pytest.raises(DaqError) as err:
                for _ in range(100):
                    ai.read(number_of_samples_per_channel=50, timeout=10.0)
            assert err.value.error_code == -50405
        c.close()


def test_a_read_that_times_out_reports_the_samples_it_read(pcie6363):
    _, c = pcie6363
    with c.task() as ai:
        ai.ai_channels.add_ai_voltage_chan("Dev1/ai0")
        ai.timing.cfg_samp_clk_timing(10000, sample_mode=AcquisitionType.CONTINUOUS)
        ai.start()
        with pytest.raises(DaqError) as err:
            ai.read(number_of_samples_per_channel=1_000_000, timeout=0.3)
        assert err.value.error_code == -200284
        assert err.value.samps_per_chan_read == ai.in_stream.curr_read_pos > 0  # what was there was read


def test_onboard_fifo_sizes_are_the_products(pcie6363):
    _, c = pcie6363
    with c.task() as ai, c.task() as ao:
        ai.ai_channels.add_ai_voltage_chan("Dev1/ai0")
        ao.ao_channels.add_ao_voltage_chan("Dev1/ao0")
        assert ai.in_stream.input_onbrd_buf_size == 2047 and ao.out_stream.output_onbrd_buf_size == 8191


def test_tasks_the_preparation_does_not_drive_read_nis_simulated_sine_within_min_and_max(pcie6363):
    """On demand, finite, or at a rate the preparation cannot run (1 kHz): NI's simulated-device
    signal, a sine between the channel's min and max; a finite task is done after its samples."""
    _, c = pcie6363
    with c.task() as t:
        t.ai_channels.add_ai_voltage_chan("Dev1/ai1", min_val=1.0, max_val=1.001)
        assert t.read() == pytest.approx(1.0005, abs=1e-3)  # on demand: starts for the read
    with c.task() as t:
        t.ai_channels.add_ai_voltage_chan("Dev1/ai0:1", min_val=-2.5, max_val=2.5)
        t.timing.cfg_samp_clk_timing(1000, sample_mode=AcquisitionType.FINITE, samps_per_chan=100)
        t.start()
        t.wait_until_done(timeout=10.0)
        assert t.is_task_done()
        data = np.asarray(t.read(number_of_samples_per_channel=100))
        assert data.shape == (2, 100) and np.all(np.abs(data) <= 2.5) and np.ptp(data[0]) > 1.0
        raw = t.in_stream  # raw codes: 16 bit, full scale = the ±5 V range chosen for ±2.5 V
        assert t.ai_channels[0].ai_rng_high == 5.0 and raw.raw_data_width == 4


def test_analog_and_reference_triggers_read_back_as_configured(pcie6363):
    from nidaqmx.constants import Slope, TriggerType

    _, c = pcie6363
    with c.task() as t:
        t.ai_channels.add_ai_voltage_chan("Dev1/ai1")
        t.timing.cfg_samp_clk_timing(1000)
        st, ref = t.triggers.start_trigger, t.triggers.reference_trigger
        assert st.trig_type == TriggerType.NONE and ref.trig_type == TriggerType.NONE
        st.cfg_anlg_edge_start_trig(trigger_source="APFI0", trigger_slope=Slope.FALLING, trigger_level=3.0)
        assert (st.trig_type, st.anlg_edge_src, st.anlg_edge_slope, st.anlg_edge_lvl) == \
            (TriggerType.ANALOG_EDGE, "/Dev1/APFI0", Slope.FALLING, 3.0)
        ref.cfg_anlg_edge_ref_trig("APFI1", pretrigger_samples=20, trigger_level=-2.0)
        assert (ref.trig_type, ref.anlg_edge_src, ref.pretrig_samples) == (TriggerType.ANALOG_EDGE, "/Dev1/APFI1", 20)
        ref.disable_ref_trig()
        assert ref.trig_type == TriggerType.NONE


def test_raw_ao_codes_are_written_at_the_channels_full_scale(pcie6363):
    from nidaqmx.stream_writers import AnalogUnscaledWriter

    _, c = pcie6363
    with c.task("out") as ao, c.task("in") as ai:
        ao.ao_channels.add_ao_voltage_chan("Dev1/ao1", min_val=-10, max_val=10)
        AnalogUnscaledWriter(ao.out_stream, auto_start=True).write_int16(np.array([[16384]], dtype=np.int16))
        ai.ai_channels.add_ai_voltage_chan("Dev1/_ao1_vs_aognd", min_val=-10, max_val=10)
        assert ai.read() == pytest.approx(16384 * 10 / 32767, abs=1e-6)


def test_other_measurement_types_are_channels_whose_configuration_reads_back(pcie6363):
    from nidaqmx.constants import ResistanceConfiguration, RTDType, TemperatureUnits, UsageTypeAI

    _, c = pcie6363
    with c.task() as t:
        ch = t.ai_channels.add_ai_rtd_chan("Dev1/ai0", rtd_type=RTDType.PT_3851,
                                           resistance_config=ResistanceConfiguration.THREE_WIRE)
        assert (ch.ai_meas_type, ch.ai_rtd_type, ch.ai_resistance_cfg, ch.ai_temp_units) == \
            (UsageTypeAI.TEMPERATURE_RTD, RTDType.PT_3851, ResistanceConfiguration.THREE_WIRE, TemperatureUnits.DEG_C)
        assert 0.0 <= t.read() <= 100.0  # NI's simulated signal, in °C between min and max


def test_a_write_that_times_out_writes_what_fits_and_reports_the_count(pcie6363):
    _, c = pcie6363
    with c.task("ao") as ao, c.task("ai") as ai:
        ao.ao_channels.add_ao_voltage_chan("Dev1/ao0")
        ao.timing.cfg_samp_clk_timing(10000, source="/Dev1/ai/SampleClock", sample_mode=AcquisitionType.CONTINUOUS)
        ao.triggers.start_trigger.cfg_dig_edge_start_trig("/Dev1/ai/StartTrigger")
        ao.out_stream.regen_mode = nidaqmx.constants.RegenerationMode.DONT_ALLOW_REGENERATION
        ao.out_stream.output_buf_size = 20000
        ao.write(np.zeros(15000), auto_start=False)
        ai.ai_channels.add_ai_voltage_chan("Dev1/ai0")
        ai.timing.cfg_samp_clk_timing(10000, sample_mode=AcquisitionType.CONTINUOUS)
        ao.start()
        ai.start()
        before = ao.out_stream.curr_write_pos
        with pytest.raises(DaqError) as err:  # 5,000 + what was generated meanwhile fit; 100,000 do not
            ao.write(np.zeros(100_000), timeout=0.2)
        assert err.value.error_code == -200292
        written = ao.out_stream.curr_write_pos - before
        assert 5000 <= written < 100_000
        assert err.value.samps_per_chan_written == written


def test_resetting_timing_properties_restores_daqmx_defaults(pcie6363):
    _, c = pcie6363
    with c.task() as t:
        t.ai_channels.add_ai_voltage_chan("Dev1/ai0")
        t.timing.cfg_samp_clk_timing(1000, source="PFI0", sample_mode=AcquisitionType.FINITE, samps_per_chan=500)
        t.timing.samp_clk_timebase_div = 200000
        assert t.timing.samp_clk_rate == 500
        del t.timing.samp_clk_timebase_div
        assert (t.timing.samp_clk_timebase_div, t.timing.samp_clk_rate) == (100000, 1000)
        del t.timing.samp_clk_src
        del t.timing.samp_quant_samp_mode
        del t.timing.samp_quant_samp_per_chan
        assert t.timing.samp_clk_src == "/Dev1/ai/SampleClockTimebase"
        assert (t.timing.samp_quant_samp_mode, t.timing.samp_quant_samp_per_chan) == (AcquisitionType.CONTINUOUS, 0)
