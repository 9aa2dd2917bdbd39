"""Hand-written files (rig, protocol, NWB metadata) read with errors that name the file."""

from __future__ import annotations

import pytest

from analysis.nwb_metadata import load_metadata_file
from daq.config_file import load_config_file
from daq.errors import ConfigError
from daq.rig import load_rig


def test_yaml_and_json_by_suffix(tmp_path):
    (tmp_path / "a.yaml").write_text("x: 1\n")
    (tmp_path / "a.json").write_text('{"x": 2}')
    assert load_config_file(tmp_path / "a.yaml", "the file") == {"x": 1}
    assert load_config_file(tmp_path / "a.json", "the file") == {"x": 2}


@pytest.mark.parametrize("name, text, message", [
    ("missing.yaml", None, "cannot read the rig file"),
    ("bad.yaml", "a: [1, 2\n", "not valid YAML"),
    ("deep.yaml", "[" * 5000 + "]" * 5000, "nested too deeply"),  # was a RecursionError for rig files
    ("latin1.yaml", b"name: caf\xe9\n", "cannot read the rig file"),
])
def test_rig_file_errors_name_the_file(tmp_path, name, text, message):
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    elif text is not None:
        p.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_rig(p)
    assert str(p) in str(err.value)


def test_metadata_file_errors_name_the_file(tmp_path):
    p = tmp_path / "meta.json"
    p.write_text('{"subject": ')
    with pytest.raises(ConfigError, match="not valid JSON") as err:
        load_metadata_file(p)
    assert str(p) in str(err.value)
