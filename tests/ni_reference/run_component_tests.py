"""Run nidaqmx-python's own component tests against ``ionto sim-server`` over gRPC and print
pass/fail counts.  Not part of ``make test`` (the file name is not ``test_*``): it needs NI's
test sources, which are fetched, never vendored into this repository.

    python tests/ni_reference/run_component_tests.py                       # clones ni/nidaqmx-python
    python tests/ni_reference/run_component_tests.py --src ~/nidaqmx-python --product pcie-6363
    python tests/ni_reference/run_component_tests.py --server-args ""      # the server's default device

How it points NI's tests at the simulated board: NI's ``tests/conftest.py`` parametrizes every
task/system fixture with ``library_init_kwargs`` (the local driver) and ``grpc_init_kwargs``
(``nidaqmx.GrpcSessionOptions`` on a channel to ``localhost:<port>`` of the session-scoped
``grpc_server_process`` fixture, whose ``GrpcServerProcess`` starts NI's gRPC Device Server on
Windows and parses "Server listening on port N").  In a temporary copy of NI's ``tests/`` this
script replaces ``tests/_grpc_utils.py`` with one whose ``GrpcServerProcess`` starts
``ionto sim-server --port 0 --json``, and selects the gRPC parametrization only
(``-k grpc_init_kwargs``).
Devices are then found as NI's tests find them (``System.remote(...).devices``: product type
``PCIe-6363``, X Series with >= 2 AO, >= 4 AI, >= 8 DO lines, >= 4 counters).

Applicable subset (issue 14): AI/AO voltage tasks, timing, triggers, read/write streams,
errors, system/device queries — the files in ``APPLICABLE``; tests that need other hardware
(counters, digital, DSA, power, cDAQ/TS chassis modules, persisted tasks/scales in NI MAX,
Windows, the local driver) are outside it.  A test the suite *skips* because no suitable
device was found counts as not passing (a real PCIe-6363 would have run it), unless the skip
names another product.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = "https://github.com/ni/nidaqmx-python"
ROOT = Path(__file__).resolve().parents[2]

APPLICABLE = [
    "tests/component/stream_readers/test_analog_multi_channel_reader.py",
    "tests/component/stream_readers/test_analog_single_channel_reader.py",
    "tests/component/stream_readers/test_analog_unscaled_reader.py",
    "tests/component/stream_writers/test_analog_multi_channel_writer.py",
    "tests/component/stream_writers/test_analog_single_channel_writer.py",
    "tests/component/stream_writers/test_analog_unscaled_writer.py",
    "tests/component/system/_collections/test_device_collection.py",
    "tests/component/system/_collections/test_physical_channel_collection.py",
    "tests/component/system/test_device.py",
    "tests/component/system/test_device_properties.py",
    "tests/component/system/test_physical_channel.py",
    "tests/component/system/test_physical_channel_properties.py",
    "tests/component/system/test_system.py",
    "tests/component/task/channels/test_ai_channel.py",
    "tests/component/task/channels/test_channel_properties.py",
    "tests/component/task/test_in_stream.py",
    "tests/component/task/test_in_stream_buffer_properties.py",
    "tests/component/task/test_in_stream_read_properties.py",
    "tests/component/task/test_out_stream.py",
    "tests/component/task/test_out_stream_buffer_properties.py",
    "tests/component/task/test_out_stream_write_properties.py",
    "tests/component/task/test_task_read_ai.py",
    "tests/component/task/test_timing.py",
    "tests/component/task/test_timing_properties.py",
    "tests/component/task/test_triggers.py",
    "tests/component/task/test_triggers_properties.py",
    "tests/component/test_interpreter.py",
    "tests/component/test_task.py",
    "tests/component/test_task_properties.py",
]

# A skip counts against the simulated board only when NI's conftest could not find the board it
# serves (a PCIe-6363 / an X Series device); skips for other hardware (PXIe-43xx, TestScale,
# myDAQ, devices named in NI MAX), Windows-only or library-only features are not applicable.
COUNTED_SKIP = re.compile(r"Could not detect a (PCIe-6363 device|device that meets the requirements to be an X Series "
                          r"fixture of type DeviceType\.(SIMULATED|ANY))")

GRPC_UTILS = '''"""Replaced by ionto's run_component_tests.py: start ionto sim-server instead of NI's server."""
import json
import subprocess


class GrpcServerProcess:
    def __init__(self):
        self._proc = subprocess.Popen(SERVER_CMD, stdout=subprocess.PIPE, text=True)
        text = ""
        while True:  # one JSON document, possibly over several lines
            line = self._proc.stdout.readline()
            if not line:
                raise RuntimeError(f"sim-server exited with {self._proc.wait()}")
            text += line
            try:
                self.server_port = int(json.loads(text)["port"])
                break
            except ValueError:
                continue

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._proc.terminate()
        self._proc.wait(10)
'''

PYTEST_INI = """[pytest]
addopts = -p no:cacheprovider
filterwarnings = ignore::ResourceWarning
markers =
    library_only
    library_skip
    library_xfail
    grpc_only
    grpc_skip
    grpc_xfail
    new_task_name
    device_name
    task_name
    channel_name
    scale_name
    timeout
    grpc_session_name
    grpc_session_initialization_behavior
    temporary_grpc_channel
    disable_feature_toggle
    enable_feature_toggle
    use_code_readiness
"""


def source_tree(src: str | None, cache: Path) -> Path:
    """A checkout of nidaqmx-python (given, or cloned once into ``cache``)."""
    if src:
        p = Path(src).expanduser()
        if (p / "tests" / "component").is_dir():
            return p
        if (p / "HEAD").is_file():  # a bare git directory: export its tests
            out = cache / "export"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            subprocess.run(f"git --git-dir={p} archive HEAD tests | tar -x -C {out}", shell=True, check=True)
            return out
        sys.exit(f"--src {src}: neither a nidaqmx-python checkout (tests/component) nor a git directory")
    clone = cache / "nidaqmx-python"
    if not (clone / "tests" / "component").is_dir():
        subprocess.run(["git", "clone", "--depth", "1", REPO, str(clone)], check=True)
    return clone


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", help="nidaqmx-python checkout (or bare git dir); default: clone it into --cache")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "ionto-nidaqmx-tests"))
    ap.add_argument("--product", default="pcie-6363", help="sim-server --product (default pcie-6363)")
    ap.add_argument("--server-args", default=None, help="sim-server arguments instead of '--product PRODUCT'")
    ap.add_argument("-k", default="", help="extra pytest -k expression (ANDed with 'grpc')")
    ap.add_argument("--show", type=int, default=12, help="failure classes to print")
    ap.add_argument("--timeout-s", type=float, default=1800)
    ap.add_argument("--junit", help="keep NI's junit XML report here (every failure's message)")
    args = ap.parse_args(argv)

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    src = source_tree(args.src, cache)
    work = Path(tempfile.mkdtemp(prefix="nidaqmx-ref-"))
    shutil.copytree(src / "tests", work / "tests")
    server_args = args.server_args if args.server_args is not None else f"--product {args.product}"
    cmd = [sys.executable, "-m", "app.cli.main", "sim-server", "--port", "0", "--json", *server_args.split()]
    (work / "tests" / "_grpc_utils.py").write_text(f"SERVER_CMD = {cmd!r}\n" + GRPC_UTILS)
    (work / "pytest.ini").write_text(PYTEST_INI)
    for f in (work / "tests" / "component").rglob("*.py"):
        # module-level queries of the local driver (absent here) would fail the whole file's
        # collection; they only gate tests on the local driver's version
        text = f.read_text()
        if "System.local().driver_version" in text:
            f.write_text(text.replace("System.local().driver_version", "(99, 0, 0)"))
    junit = work / "junit.xml"
    files = [f for f in APPLICABLE if (work / f).is_file()]
    k = "grpc_init_kwargs" + (f" and ({args.k})" if args.k else "")  # the gRPC parametrization only
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(work)]))
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-k", k, f"--junitxml={junit}",
                  "--rootdir", str(work), *files]
    print(f"running {len(files)} files of {src} against: {' '.join(cmd[3:])}", flush=True)
    subprocess.run(pytest_cmd, cwd=work, env=env, timeout=args.timeout_s, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    counts, classes = summarize(junit)
    if args.junit and junit.is_file():
        shutil.copy(junit, args.junit)
    shutil.rmtree(work, ignore_errors=True)
    applicable = counts["passed"] + counts["failed"] + counts["skipped (device not found)"]
    pct = 100.0 * counts["passed"] / applicable if applicable else 0.0
    print(f"passed {counts['passed']} / applicable {applicable} ({pct:.1f} %); failed {counts['failed']}, "
          f"skipped as not found {counts['skipped (device not found)']}, "
          f"skipped for other hardware {counts['skipped (other hardware)']}")
    for what, n in classes.most_common(args.show):
        print(f"  {n:4d}  {what}")
    return 0


def summarize(junit: Path) -> tuple[collections.Counter, collections.Counter]:
    counts: collections.Counter = collections.Counter()
    classes: collections.Counter = collections.Counter()
    if not junit.is_file():
        return counts, classes
    for case in ET.parse(junit).getroot().iter("testcase"):
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        skip = case.find("skipped")
        if bad is not None:
            counts["failed"] += 1
            classes[_failure_class(bad.get("message") or "")] += 1
        elif skip is not None:
            msg = skip.get("message") or ""
            counted = bool(COUNTED_SKIP.search(msg))
            counts["skipped (device not found)" if counted else "skipped (other hardware)"] += 1
            if counted:
                classes["skip: " + msg[:110]] += 1
        else:
            counts["passed"] += 1
    return counts, classes


def _failure_class(message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "?"
    first = re.sub(r"0x[0-9A-Fa-f]+|\d+(\.\d+)?", "N", first)
    code = re.search(r"(?:Status Code|Error Code|ni-error|code)[:=]? *(-?\d{5,6})", message)
    return (f"[{code.group(1)}] " if code else "") + first[:120]


if __name__ == "__main__":
    sys.exit(main())
