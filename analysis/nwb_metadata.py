"""Subject and session metadata for NWB export: validated, merged from three sources.

Precedence (highest first): options given on the command line, a metadata file
(YAML or JSON, ``--metadata FILE``), what the recording itself holds.  NWB requires a
Subject (nwbinspector flags a missing one, or one without ``subject_id``, ``sex`` and
``age``, as critical); a field nobody gave gets a *placeholder* that says so, and the
export reports which fields are placeholders so the user can fill them in::

    subject:
      subject_id: R17
      species: Rattus norvegicus
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
from dataclasses import dataclass
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

PLACEHOLDER_SUBJECT_ID = "unknown"
PLACEHOLDER_AGE = "P0D/"  # "zero days or older": a true statement that claims no age
PLACEHOLDER_SEX = "U"
PLACEHOLDER_LOCATION = "unknown"


class SubjectMeta(BaseModel):
    """The NWB Subject fields ionto fills (all optional here; placeholders fill the required ones)."""

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
    """What a recording says about its subject and session.

    An ionto recording may carry a ``metadata`` mapping (``subject:``/``session:``, the same
    form as a metadata file) through its reader's ``metadata`` attribute; the rig's name
    and the recording's notes are always used by the exporter itself."""
    raw = getattr(rec, "metadata", None)
    if not raw:
        return NwbMetadata()
    return parse_metadata(raw, f"{getattr(rec, 'path', 'recording')}: metadata")


@dataclass(frozen=True)
class ResolvedSubject:
    """The Subject to write and the fields that are placeholders."""

    fields: dict[str, Any]
    placeholders: tuple[str, ...]


def resolve_subject(meta: SubjectMeta) -> ResolvedSubject:
    """Fill the fields NWB needs (subject_id, sex, age or date_of_birth) with marked placeholders."""
    f = meta.model_dump(exclude_none=True)
    missing: list[str] = []
    if "subject_id" not in f:
        f["subject_id"] = PLACEHOLDER_SUBJECT_ID
        missing.append("subject_id")
    if "sex" not in f:
        f["sex"] = PLACEHOLDER_SEX
        missing.append("sex")
    if "age" not in f and "date_of_birth" not in f:
        f["age"] = PLACEHOLDER_AGE
        missing.append("age")
    if "species" not in f:
        missing.append("species")
    if missing:
        note = ("PLACEHOLDER metadata: " + ", ".join(missing) + " not given when this file was exported "
                "(ionto export-nwb --subject-id/--species/--sex/--age or --metadata FILE.yaml); "
                f"subject_id {PLACEHOLDER_SUBJECT_ID!r}, sex 'U' (unknown), age {PLACEHOLDER_AGE!r} "
                "(any age) stand for unknown values.")
        f["description"] = f"{f['description']}\n{note}" if f.get("description") else note
    if "date_of_birth" in f:
        import datetime as _dt

        dob = _dt.datetime.fromisoformat(f["date_of_birth"])
        f["date_of_birth"] = dob if dob.tzinfo else dob.astimezone()
    return ResolvedSubject(f, tuple(missing))
