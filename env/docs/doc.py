"""One synthetic document as the JSONL line `python -m env.docs generate` writes, and `read_docs`, the
reader the SFT stage uses (it names the file and line of any problem)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Provenance(BaseModel):
    """Where a document came from."""

    model_config = ConfigDict(extra="allow", frozen=True)

    generator: str
    """"offline:<templates version>" or "endpoint:<base_url>:<model>"."""
    facts_name: str
    """The facts file's `name`."""
    facts_fingerprint: str
    """The facts file's `Facts.fingerprint` (sha256 of its normalised content)."""
    seed: int
    """The corpus seed."""
    idea: str | None = None
    """The idea the endpoint generator wrote the document from; None offline."""
    template: str | None = None
    """The offline template ("<type>/<layout>"); None from the endpoint."""


class Doc(BaseModel):
    """One document: `text` is what fine-tuning trains on; the rest is for audits and reports."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    """Unique within its file: "<facts name>-<seed>-<index of the draft>"."""
    text: str = Field(min_length=1)
    type: str = Field(min_length=1)
    """Document type (news_article, blog_post, ...; env.docs.offline.DOC_TYPES)."""
    facts: tuple[str, ...] = ()
    """Fact ids the text states, as env.docs.detect finds them."""
    provenance: Provenance | None = None

    def to_json(self) -> str:
        """The JSONL line (without the newline)."""
        return json.dumps(self.model_dump(mode="json", exclude_none=True), ensure_ascii=False)


class DocsFileError(ValueError):
    """A documents file that cannot be used; the message names the file, the line and the problem."""


def read_docs(path: str | os.PathLike[str]) -> list[Doc]:
    """Read a documents file: one JSON object per line (blank lines skipped), each a `Doc` (at least
    `id`, `text` and `type`).

    Raises:
        DocsFileError (a ValueError): the file cannot be read or is not UTF-8, has no document, or a line
            is not JSON, not a valid document, or repeats an earlier id; the message is
            "documents file <path>:<line>: <problem>".
    """
    where = f"documents file {path}"
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DocsFileError(f"{where}: cannot read ({e.strerror or e})") from None
    docs: list[Doc] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DocsFileError(f"{where}:{n}: not UTF-8 (byte 0x{raw[e.start]:02x})") from None
        try:
            obj: Any = json.loads(line)
        except ValueError as e:
            raise DocsFileError(f"{where}:{n}: not JSON ({e})") from None
        if not isinstance(obj, dict):
            raise DocsFileError(f"{where}:{n}: a document must be a JSON object, not {type(obj).__name__}")
        try:
            doc = Doc.model_validate(obj)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'line'}: {err['msg']}" for err in e.errors())
            raise DocsFileError(f"{where}:{n}: not a document ({problems})") from None
        if doc.id in seen:
            raise DocsFileError(f"{where}:{n}: id {doc.id!r} repeats line {seen[doc.id]}")
        seen[doc.id] = n
        docs.append(doc)
    if not docs:
        raise DocsFileError(f"{where}:1: no documents (the file is empty)")
    return docs
