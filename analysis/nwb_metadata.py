"""Subject and session metadata for NWB export: validated, merged from three sources.

Precedence (highest first): options given on the command line, a metadata file
(YAML or JSON, ``--metadata FILE``), what the recording itself holds (an NWB file's
Subject, or the ``subject:`` section of the rig file the recording was made with).

The subject's ``subject_id``, ``species``, ``sex`` and ``age`` (or ``date_of_birth``) are
**required**: DANDI's validation (``dandi validate``, and ``nwbinspector --config dandi``,
whose CRITICAL checks they are) refuses a file without them, and a made-up value would
pass the validators while being wrong.  :func:`resolve_subject` refuses an export that lacks
any of them with one line naming them and how to give them::

    subject:
      subject_id: R17
      species: Rattus norvegicus   # Latin binomial (or rat, mouse, ... for the common ones)
      sex: M            # M, F, O or U (unknown)
      age: P60D         # ISO 8601 duration; a range 'P8W/P10W'; 'P60D/' = 60 days or older
      strain: Wistar
      weight: 0.31 kg
    session:
      experimenter: [Curtis, D.R.]
      lab: Neuropharmacology
      institution: ANU
      session_id: R17-cell3
      electrode_location: CA1 stratum pyramidale
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from daq.config_file import load_config_file
from daq.errors import ConfigError
from daq.pipette import format_validation_error

# An ISO 8601 duration (nwbinspector's form) or a range of two, either side may be open.
_DURATION = r"P(?!$)(\d+(?:\.\d+)?Y)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?W)?(\d+(?:\.\d+)?D)?(T(?=\d)(\d+(?:\.\d+)?H)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?S)?)?"
_AGE = re.compile(rf"{_DURATION}|({_DURATION})?/({_DURATION})?")
_WEIGHT = re.compile(r"\d+(\.\d+)?\s(kg|g|mg|ug|μg|ng|pg)")
# nwbinspector's form (check_subject_species_form): a Latin binomial or an NCBI taxonomy term
_SPECIES = re.compile(r"([A-Z][a-z]* [a-z]+)|(http://purl.obolibrary.org/obo/NCBITaxon_\d+)")
COMMON_SPECIES = {"rat": "Rattus norvegicus", "mouse": "Mus musculus", "human": "Homo sapiens",
                  "cat": "Felis catus", "rabbit": "Oryctolagus cuniculus", "guinea pig": "Cavia porcellus",
                  "ferret": "Mustela putorius furo", "rhesus macaque": "Macaca mulatta", "macaque": "Macaca mulatta",
                  "marmoset": "Callithrix jacchus", "zebra finch": "Taeniopygia guttata"}
REQUIRED_SUBJECT = ("subject_id", "species", "sex", "age")  # age, or date_of_birth
HOW_TO_GIVE = ("give them with --subject-id ID --species 'Rattus norvegicus' --sex M|F|O|U --age P60D (ISO 8601; "
               "'P8W/' = 8 weeks or older), in --metadata FILE.yaml under 'subject:', or in the rig file's "
               "'subject:' section")


class SubjectMeta(BaseModel):
    """The NWB Subject fields ionto fills (all optional here, where sources are merged;
    :func:`resolve_subject` requires subject_id, species, sex and age or date_of_birth)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject_id: str | None = Field(default=None, min_length=1)
    species: str | None = Field(default=None, description="Latin binomial, e.g. 'Rattus norvegicus'")
    sex: str | None = Field(default=None, description="M, F, O or U")
    age: str | None = Field(default=None, description="ISO 8601 duration, e.g. P60D, or a range P8W/P10W")
    date_of_birth: str | None = Field(default=None, description="ISO 8601 date, e.g. 2026-01-31")
    strain: str | None = None
    genotype: str | None = None
    weight: str | None = Field(default=None, description="number and unit, e.g. '0.31 kg'")
    description: str | None = None

    @field_validator("species")
    @classmethod
    def _species(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v2 = COMMON_SPECIES.get(" ".join(v.lower().split()), v.strip())
        if not _SPECIES.fullmatch(v2):
            raise ValueError(f"species {v!r} is not a Latin binomial such as 'Rattus norvegicus' or 'Mus musculus' "
                             "(or an NCBI taxonomy link http://purl.obolibrary.org/obo/NCBITaxon_10116)")
        return v2

    @field_validator("subject_id")
    @classmethod
    def _subject_id(cls, v: str | None) -> str | None:
        if v is not None and "/" in v:  # DANDI names files after it (nwbinspector: check_subject_id_no_slashes)
            raise ValueError(f"subject_id {v!r} must not contain '/'")
        return v

    @field_validator("sex")
    @classmethod
    def _sex(cls, v: str | None) -> str | None:
        if v is None:
            return v
        words = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
        v2 = words.get(v.strip().lower(), v.strip().upper())
        if v2 not in ("M", "F", "O", "U", "XO", "XX"):
            raise ValueError(f"sex {v!r} is not one of M, F, O, U (or male, female, other, unknown)")
        return v2

    @field_validator("age")
    @classmethod
    def _age(cls, v: str | None) -> str | None:
        if v is not None and not _AGE.fullmatch(v.strip()):
            raise ValueError(f"age {v!r} is not an ISO 8601 duration such as P60D, P8W, P2Y or a range P8W/P10W")
        return None if v is None else v.strip()

    @field_validator("weight")
    @classmethod
    def _weight(cls, v: str | None) -> str | None:
        if v is not None and not _WEIGHT.fullmatch(v.strip()):
            raise ValueError(f"weight {v!r} must be a number, a space and a unit (kg, g, mg), e.g. '0.31 kg'")
        return None if v is None else v.strip()

    @field_validator("date_of_birth")
    @classmethod
    def _dob(cls, v: str | None) -> str | None:
        if v is None:
            return v
        import datetime as _dt

        try:
            _dt.datetime.fromisoformat(v)
        except ValueError:
            raise ValueError(f"date_of_birth {v!r} is not an ISO 8601 date such as 2026-01-31") from None
        return v


class SessionMeta(BaseModel):
    """Session-level NWB fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    session_description: str | None = None
    session_id: str | None = None
    experimenter: tuple[str, ...] | None = None
    lab: str | None = None
    institution: str | None = None
    experiment_description: str | None = None
    keywords: tuple[str, ...] | None = None
    related_publications: tuple[str, ...] | None = None
    electrode_location: str | None = Field(default=None, description="brain area of the recording electrode")

    @field_validator("experimenter", "keywords", "related_publications", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v


class NwbMetadata(BaseModel):
    """Subject and session metadata, as given (``None`` = not given)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: SubjectMeta = Field(default_factory=SubjectMeta)
    session: SessionMeta = Field(default_factory=SessionMeta)

    def merged_over(self, lower: NwbMetadata) -> NwbMetadata:
        """This metadata with every field it leaves unset taken from ``lower``."""
        def merge(hi: BaseModel, lo: BaseModel) -> dict[str, Any]:
            a, b = hi.model_dump(exclude_none=True), lo.model_dump(exclude_none=True)
            return {**b, **a}

        return NwbMetadata(subject=SubjectMeta(**merge(self.subject, lower.subject)),
                           session=SessionMeta(**merge(self.session, lower.session)))


def parse_metadata(data: Any, source: str) -> NwbMetadata:
    """Validate a mapping with ``subject:`` and ``session:``; errors name ``source`` and the field."""
    if data is None:
        return NwbMetadata()
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: metadata must be a mapping with 'subject:' and/or 'session:'")
    try:
        return NwbMetadata.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_metadata_file(path: str | os.PathLike[str]) -> NwbMetadata:
    """A YAML or JSON metadata file (see the module docstring for its form)."""
    return parse_metadata(load_config_file(path, "the metadata file"), str(Path(path)))


def metadata_from_recording(rec: Any) -> NwbMetadata:
    """What a recording says about its subject and session: its reader's ``metadata`` mapping
    (``subject:``/``session:``, the form of a metadata file; an NWB file read back has one),
    over the ``subject:`` section of the rig file it was recorded with (``rec.rig``)."""
    where = getattr(rec, "path", "recording")
    own = getattr(rec, "metadata", None)
    meta = parse_metadata(own, f"{where}: metadata") if own else NwbMetadata()
    rig = getattr(rec, "rig", None) or {}
    subject = rig.get("subject") if isinstance(rig, Mapping) else None
    if subject:
        meta = meta.merged_over(parse_metadata({"subject": subject}, f"{where}: the rig file's subject"))
    return meta


def resolve_subject(meta: SubjectMeta, source: str) -> dict[str, Any]:
    """The Subject's fields, for ``pynwb.file.Subject``; refuses (``ConfigError``, one line
    naming ``source``) a subject without subject_id, species, sex and age or date_of_birth."""
    f = meta.model_dump(exclude_none=True)
    missing = [k for k in REQUIRED_SUBJECT if k not in f and not (k == "age" and "date_of_birth" in f)]
    if missing:
        raise ConfigError(f"{source}: the NWB export needs the subject's {', '.join(missing)} (DANDI requires "
                          f"{', '.join(REQUIRED_SUBJECT)} or date_of_birth); {HOW_TO_GIVE}")
    if "date_of_birth" in f:
        import datetime as _dt

        dob = _dt.datetime.fromisoformat(f["date_of_birth"])
        f["date_of_birth"] = dob if dob.tzinfo else dob.astimezone()
    return f
