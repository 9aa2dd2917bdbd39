"""NWB metadata: validation agrees with nwbinspector, precedence, the required subject fields; streaming reads
once."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.nwb_chunks import ChannelIterator, SharedRows
from analysis.nwb_metadata import (
    NwbMetadata,
    SubjectMeta,
    load_metadata_file,
    metadata_from_recording,
    parse_metadata,
    resolve_subject,
)
from daq.errors import ConfigError


def inspector_accepts_age(age: str) -> bool:
    from nwbinspector.checks._nwbfile_metadata import check_subject_age
    from pynwb.file import Subject

    return check_subject_age(Subject(subject_id="x", age=age)) is None


durations = st.builds(
    lambda y, m, w, d: "P" + "".join(f"{v}{u}" for v, u in ((y, "Y"), (m, "M"), (w, "W"), (d, "D")) if v is not None),
    *(st.one_of(st.none(), st.integers(0, 400)) for _ in range(4)),
).filter(lambda s: s != "P")


@settings(deadline=None)  # the first call imports nwbinspector
@given(durations, st.sampled_from(["{}", "{}/", "/{}", "{}/{}"]))
def test_valid_iso_ages_pass_ours_and_the_inspector(age, form):
    text = form.format(age, age)
    assert SubjectMeta(age=text).age == text
    assert inspector_accepts_age(text)


@settings(deadline=None)
@given(st.text(max_size=12))
def test_an_age_we_accept_the_inspector_accepts(text):
    try:
        SubjectMeta(age=text)
    except ValueError:
        return
    assert inspector_accepts_age(text.strip())


@pytest.mark.parametrize("bad", ["9 weeks", "60", "P", "P60", "60D", "P-3D"])
def test_bad_ages_are_rejected_with_an_example(bad):
    with pytest.raises(ValueError, match="ISO 8601 duration such as P60D"):
        SubjectMeta(age=bad)


def test_sex_words_and_weight_form():
    assert SubjectMeta(sex="female").sex == "F" and SubjectMeta(sex="u").sex == "U"
    with pytest.raises(ValueError, match="M, F, O, U"):
        SubjectMeta(sex="Q")
    assert SubjectMeta(weight="0.31 kg").weight == "0.31 kg"
    with pytest.raises(ValueError, match=re.escape("'0.31 kg'")):
        SubjectMeta(weight="310")


@pytest.mark.parametrize(("fields", "missing"), [
    ({}, "subject_id, species, sex, age"),
    ({"subject_id": "R1", "species": "Rattus norvegicus"}, "sex, age"),
    ({"subject_id": "R1", "sex": "M", "age": "P60D"}, "species"),
])
def test_a_subject_without_its_required_fields_is_refused_naming_them(fields, missing):
    with pytest.raises(ConfigError, match=rf"^rec.h5: the NWB export needs the subject's {missing} \(DANDI requires "
                       r"subject_id, species, sex, age or date_of_birth\); give them with --subject-id ID --species "
                       r"'Rattus norvegicus' --sex M\|F\|O\|U --age P60D .*--metadata FILE.yaml.*rig file's "
                       r"'subject:' section$"):
        resolve_subject(SubjectMeta(**fields), "rec.h5")


def test_a_complete_subject_is_written_as_given():
    f = resolve_subject(SubjectMeta(subject_id="R1", sex="M", date_of_birth="2026-01-02", species="mouse",
                                    description="wild type"), "rec.h5")
    assert f["species"] == "Mus musculus" and "age" not in f and f["description"] == "wild type"
    assert f["date_of_birth"].tzinfo is not None  # age from date_of_birth: enough


@given(st.text(min_size=1, max_size=30))
def test_a_species_we_accept_the_inspector_accepts(text):
    from nwbinspector.checks._nwbfile_metadata import check_subject_species_form
    from pynwb.file import Subject

    try:
        species = SubjectMeta(species=text).species
    except ValueError:
        return
    assert check_subject_species_form(Subject(subject_id="x", species=species)) is None


def test_species_common_names_and_refusals():
    assert SubjectMeta(species="Rat").species == "Rattus norvegicus"
    assert SubjectMeta(species="http://purl.obolibrary.org/obo/NCBITaxon_10116").species.endswith("10116")
    with pytest.raises(ValueError, match="species 'rattus' is not a Latin binomial such as 'Rattus norvegicus'"):
        SubjectMeta(species="rattus")
    with pytest.raises(ValueError, match="subject_id 'a/b' must not contain '/'"):
        SubjectMeta(subject_id="a/b")


def test_the_rig_files_subject_is_the_recordings():
    from types import SimpleNamespace

    rig = {"name": "r", "subject": {"subject_id": "RIG1", "species": "rat", "sex": "F", "age": "P9W"}}
    m = metadata_from_recording(SimpleNamespace(path="rec.h5", rig=rig, metadata=None))
    assert (m.subject.subject_id, m.subject.species, m.subject.sex) == ("RIG1", "Rattus norvegicus", "F")
    own = {"subject": {"subject_id": "OWN"}}  # the reader's own metadata wins over the rig file's
    m = metadata_from_recording(SimpleNamespace(path="rec.h5", rig=rig, metadata=own))
    assert (m.subject.subject_id, m.subject.sex) == ("OWN", "F")
    with pytest.raises(ConfigError, match=r"rec.h5: the rig file's subject: subject.sex"):
        metadata_from_recording(SimpleNamespace(path="rec.h5", rig={"subject": {"sex": "Q"}}, metadata=None))


def test_precedence_command_line_over_file_over_recording(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("subject: {subject_id: FILE, sex: F}\nsession: {lab: FileLab, experimenter: One Person}\n")
    from_file = load_metadata_file(f)
    assert from_file.session.experimenter == ("One Person",)
    recording = parse_metadata({"subject": {"subject_id": "REC", "species": "Rattus norvegicus"}}, "rec")
    cli = NwbMetadata(subject=SubjectMeta(subject_id="CLI"))
    m = cli.merged_over(from_file).merged_over(recording)
    assert (m.subject.subject_id, m.subject.sex, m.subject.species, m.session.lab) == (
        "CLI", "F", "Rattus norvegicus", "FileLab")


def test_metadata_file_errors_name_the_file_and_field(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("subject: {subjectid: R1}\n")
    with pytest.raises(ConfigError, match=re.escape(f"{f}: subject.subjectid: Extra inputs")):
        load_metadata_file(f)
    f.write_text("subject: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_metadata_file(f)
    with pytest.raises(ConfigError, match="cannot read"):
        load_metadata_file(tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_metadata(["x"], "somewhere")


class CountingSource:
    def __init__(self, data):
        self.data = data
        self.calls = []

    def raw(self, start, stop):
        self.calls.append((start, stop))
        return self.data[start:stop]


def test_iterators_in_step_read_each_block_of_the_source_once():
    data = np.arange(1000 * 4, dtype=np.int16).reshape(1000, 4)
    src = CountingSource(data)
    rows = SharedRows(src)
    a = ChannelIterator(rows, 1000, [0, 1], data.dtype, chunk_rows=50, buffer_rows=300)
    b = ChannelIterator(rows, 1000, [3], data.dtype, chunk_rows=50, buffer_rows=300, squeeze=True,
                        scale=np.array([0.5]), offset=np.array([1.0]))
    got_a, got_b = [], []
    for ca, cb in zip(a, b):  # as hdmf's queue takes them: one buffer of each in turn
        got_a.append(ca.data)
        got_b.append(cb.data)
    assert src.calls == [(0, 300), (300, 600), (600, 900), (900, 1000)]
    np.testing.assert_array_equal(np.concatenate(got_a), data[:, :2])
    assert np.concatenate(got_b).dtype == np.float32
    np.testing.assert_allclose(np.concatenate(got_b), data[:, 3] * 0.5 + 1.0)
    assert a.chunk_shape == (50, 2) and b.chunk_shape == (50,)
