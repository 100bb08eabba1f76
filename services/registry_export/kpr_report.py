"""``ehr registry kpr``: write the annual KPR extract, and record the send.

The year must have ended. The extract can be written and sent again until 15 January of the
next year (FHI's deadline, DOMAIN.md §5.1); after that only a first send is accepted. Each
send is a ``registry.KprReportSent`` event with the file's checksum, in the stream
``registry-kpr-<year>-<kommune|all>``. A file the schema validator rejects is never written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from libs.events.ports import EventContext
from libs.kernel.errors import Invalid
from services.registry_export.contract import KprReportSent
from services.registry_export.domain.kpr import Extract, select
from services.registry_export.kpr_xml import checksum, render, validate
from services.registry_export.sources import Sources


@dataclass(frozen=True)
class KprResult:
    extract: Extract
    path: Path
    checksum: str
    resend: bool
    late: bool


def deadline(year: int) -> date:
    return date(year + 1, 1, 15)


async def run_kpr(src: Sources, xsd: Path, *, year: int, municipality: str | None,
                  today: date, now: datetime) -> KprResult:
    if today <= date(year, 12, 31):
        raise Invalid(f"the KPR extract for {year} can be made from 1 January {year + 1}: "
                      "it reports every registration of a whole year")
    stream = f"registry-kpr-{year}-{municipality or 'all'}"
    store = src.store
    version = await store.version(stream)
    late = today > deadline(year)
    if version > 0 and late:
        raise Invalid(f"the {year} extract was sent before, and it can be sent again only "
                      f"until {deadline(year).isoformat()}; corrections after the deadline go "
                      "to FHI (kpr@fhi.no)")
    extract = select((await src.people()).values(), await src.national_ids(), year,
                     municipality)
    xml = render(extract)
    problems = validate(xml, xsd)
    if problems:
        raise Invalid("the extract does not follow the KPR schema: " + "; ".join(problems[:5]))
    digest = checksum(xml)
    folder = src.out_dir / "kpr"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"kpr-{year}-{municipality or 'all'}-{digest[:12]}.xml"
    path.write_bytes(xml)
    await store.append(stream, version, [KprReportSent(
        year=year, municipality=municipality, persons=len(extract.persons),
        services=extract.services, excluded=len(extract.excluded), checksum=digest,
        file=path.name, resend=version > 0, sent_at=now)], EventContext(patient_id=None))
    return KprResult(extract, path, digest, version > 0, late)
