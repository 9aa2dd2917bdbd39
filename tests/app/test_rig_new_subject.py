"""``ionto rig new`` ends the rig file with a commented ``subject:`` section holding every field
the NWB export reads (analysis.nwb_metadata.SubjectMeta); uncommented, it is a valid rig file
whose subject the export accepts."""

from __future__ import annotations

import re

import pytest

from analysis.nwb_metadata import SubjectMeta, metadata_from_recording, resolve_subject
from app.cli.main import main
from daq.errors import ConfigError
from daq.rig import load_rig

NEW = ["--board", "Dev1", "--source", "npi-mvcs", "--command-gain", "100", "--monitor-gain", "0.01",
       "--barrel", "ach,acetylcholine,1000", "--barrel", "nacl,NaCl,165"]


def _subject_lines(text: str) -> list[str]:
    lines = text.splitlines()
    at = lines.index("# subject:")
    return lines[at:]


def test_rig_new_writes_a_commented_subject_section_with_every_field_the_export_reads(tmp_path, capsys):
    out = tmp_path / "rig.yaml"
    assert main(["rig", "new", str(out), *NEW]) == 0
    text = out.read_text()
    assert load_rig(out).subject is None  # commented: nothing made up reaches a recording
    section = _subject_lines(text)
    fields = {m.group(1) for line in section[1:] if (m := re.match(r"#   (\w+):", line))}
    assert fields == set(SubjectMeta.model_fields)


class _Rec:
    path = "rec.h5"
    metadata = None

    def __init__(self, rig: dict):
        self.rig = rig


def test_the_subject_section_uncommented_is_a_subject_the_nwb_export_accepts(tmp_path, capsys):
    out = tmp_path / "rig.yaml"
    assert main(["rig", "new", str(out), *NEW]) == 0
    text = out.read_text()
    section = _subject_lines(text)
    # the user fills it in: uncomment every line but the date of birth (age is given)
    filled = [line[2:] for line in section if not line.startswith("#   date_of_birth:")]
    edited = out.with_name("filled.yaml")
    edited.write_text(text.replace("\n".join(section), "\n".join(filled)))
    rig = load_rig(edited)
    assert rig.subject is not None and rig.subject["species"] == "Rattus norvegicus"
    subject = resolve_subject(metadata_from_recording(_Rec({"subject": rig.subject})).subject, "rec.h5")
    assert {"subject_id", "species", "sex", "age"} <= set(subject)


def test_a_rig_file_without_the_subject_filled_in_is_refused_by_the_export_with_one_line(tmp_path, capsys):
    out = tmp_path / "rig.yaml"
    assert main(["rig", "new", str(out), *NEW]) == 0
    rig = load_rig(out)
    with pytest.raises(ConfigError, match="needs the subject's subject_id, species, sex, age"):
        resolve_subject(metadata_from_recording(_Rec({"subject": rig.subject})).subject, "rec.h5")
