"""The HDF5 recording format: one self-describing file per recording (docs/file-format.md)."""

from daq.recording.format import SCHEMA_VERSION
from daq.recording.metadata import ProtocolInfo
from daq.recording.paths import refuse_special_file
from daq.recording.reader import Recording, open_recording
from daq.recording.writer import Recorder

__all__ = ["SCHEMA_VERSION", "ProtocolInfo", "Recorder", "Recording", "open_recording", "refuse_special_file"]
