"""The KPR extract as XML by the project's schema (``schemas/kpr/kpr-helse-og-omsorg-v1.xsd``,
marked VERIFY: not FHI's official message format). The same extract always gives the same
bytes (no timestamp inside; the send event records when), so its checksum names its content.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from lxml import etree

from services.registry_export.domain.kpr import Extract, KprPerson

NS = "urn:ehr:kpr-helse-og-omsorg:v1"
XSD = Path("schemas") / "kpr" / "kpr-helse-og-omsorg-v1.xsd"   # relative to the repository
SEX = {"male": "1", "female": "2"}


def _el(parent: etree._Element, name: str, text: str | None = None,
        **attrs: str) -> etree._Element:
    e = etree.SubElement(parent, f"{{{NS}}}{name}", attrs)
    if text is not None:
        e.text = text
    return e


def _person(root: etree._Element, p: KprPerson) -> None:
    el = _el(root, "Person")
    _el(el, "Fodselsnummer", p.national_id)
    _el(el, "Kommunenummer", p.municipality)
    if p.district:
        _el(el, "Bydelsnummer", p.district)
    _el(el, "Fodselsaar", f"{p.birth_year:04d}")
    _el(el, "Kjonn", SEX.get(p.sex or "", "9"))
    if p.died_on:
        _el(el, "Dodsdato", p.died_on.isoformat())
    for s in p.services:
        t = _el(el, "Tjeneste")
        _el(t, "VedtakId", s.decision_id)
        _el(t, "Tjenestekode", s.code)
        _el(t, "Vedtak", "avslag" if s.status == "refused" else "innvilget")
        for name, day in (("Vedtaksdato", s.decided_on), ("FraDato", s.from_date),
                          ("TilDato", s.to_date)):
            if day is not None:
                _el(t, name, day.isoformat())
        if s.provider and s.status != "refused":
            _el(t, "TjenesteytersOrgnr", s.provider)
    if p.assessment is not None:
        f = _el(el, "Funksjonsvurdering", dato=p.assessment.assessed_on.isoformat())
        for name, score in sorted(p.assessment.scores.items()):
            _el(f, "Variabel", navn=name, skaar=str(score))
    for d in p.diagnoses:
        _el(el, "Diagnose", kodeverk=d.system, kode=d.code)


def render(extract: Extract) -> bytes:
    attrs = {"rapporteringsaar": str(extract.year),
             "antallPersoner": str(len(extract.persons)),
             "antallTjenester": str(extract.services)}
    if extract.municipality:
        attrs["kommunenummer"] = extract.municipality
    root = etree.Element(f"{{{NS}}}KprHelseOgOmsorg", attrs, nsmap={None: NS})
    for p in extract.persons:
        _person(root, p)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def validate(xml: bytes, xsd: Path) -> list[str]:
    """The schema validator's complaints (empty: valid)."""
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    doc = etree.fromstring(xml)
    return [] if schema.validate(doc) else [str(e) for e in schema.error_log]


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
