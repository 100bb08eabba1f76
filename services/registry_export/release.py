"""``ehr registry release``: a pseudonymised research data set as Parquet, with a Frictionless
``datapackage.json`` data dictionary, recorded as a ``registry.ResearchReleased`` event.

Layout (Hive-style, read as it is by DuckDB, Spark or Trino)::

    <out>/releases/<project>/<as of>/services/year=2025/municipality=0301/part-0.parquet
    <out>/releases/<project>/<as of>/datapackage.json

The same input gives byte-identical files: rows sorted, the pseudonym a keyed hash, no
timestamps inside (``as_of`` is the caller's), one pinned pyarrow writing them.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from libs.events.ports import EventContext
from libs.kernel.errors import Invalid
from services.registry_export.contract import ResearchReleased
from services.registry_export.domain.research import KReport, anonymise, rows_for
from services.registry_export.sources import Sources

PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
FIELDS: tuple[tuple[str, pa.DataType, str, str], ...] = (
    ("pseudonym", pa.string(), "string", "HMAC-SHA256 of the national id with the project's "
     "key: stable within the project, unlinkable across projects"),
    ("age_band", pa.string(), "string", "age at the end of the year: 0-17 … 90+"),
    ("sex", pa.string(), "string", "female, male or unknown"),
    ("service_code", pa.string(), "string", "KPR tjenestekode"),
    ("service_group", pa.string(), "string", "the statistics' service group"),
    ("decision", pa.string(), "string", "granted or refused"),
    ("from_month", pa.string(), "string", "the service's first month (YYYY-MM)"),
    ("to_month", pa.string(), "string", "its planned last month (YYYY-MM), empty if open"),
    ("iplos_heavy_needs", pa.int16(), "integer", "IPLOS variables scored 4 or 5 in the "
     "newest assessment of the year"),
    ("diagnosis_chapters", pa.string(), "string", "ICPC-2/ICD-10 chapters (first letter), "
     "comma separated"),
    ("active_medicines", pa.int16(), "integer", "medicines on the list when released"),
    ("died_in_year", pa.bool_(), "boolean", "the person died in the year"),
)
PARTITIONS = (("year", "integer", "reporting year (partition)"),
              ("municipality", "string", "kommunenummer, or 'other' for municipalities with "
               "fewer than k people (partition)"))
SCHEMA = pa.schema([(name, kind) for name, kind, _, _ in FIELDS])


@dataclass(frozen=True)
class ReleaseResult:
    folder: Path
    files: dict[str, str]
    report: KReport


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_parquet(rows: list[dict], folder: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for (year, mun), part in groupby(rows, key=lambda r: (r["year"], r["municipality"])):
        rel = f"services/year={year}/municipality={mun}/part-0.parquet"
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist([{n: r[n] for n, *_ in FIELDS} for r in part],
                                     schema=SCHEMA)
        pq.write_table(table, path, compression="zstd", compression_level=3)
        files[rel] = _sha256(path)
    return files


def datapackage(project: str, basis: str, recipient: str, as_of: date, files: dict[str, str],
                report: KReport) -> dict:
    fields = [{"name": n, "type": t, "description": d} for n, t, d in PARTITIONS]
    fields += [{"name": n, "type": t, "description": d} for n, _, t, d in FIELDS]
    return {
        "profile": "data-package",
        "name": project.lower().replace("_", "-"),
        "title": f"Care services, pseudonymised, for {project}",
        "description": "One row per municipal care service registration (granted or refused) "
                       "valid in a year. Direct identifiers removed; k-anonymous over year, "
                       "municipality, age band and sex.",
        "created": as_of.isoformat(),
        "resources": [{
            "name": "services", "profile": "data-resource", "format": "parquet",
            "mediatype": "application/vnd.apache.parquet", "path": sorted(files),
            "schema": {"fields": fields},
            "ehr:partitioning": "hive: year, municipality"}],
        "ehr:release": {"recipient": recipient, "legal_basis": basis, "k": report.k,
                        "rows": report.rows, "people": report.people,
                        "suppressed_rows": report.suppressed_rows,
                        "suppressed_people": report.suppressed_people,
                        "grouped_municipalities": list(report.grouped_municipalities),
                        "smallest_class": report.smallest_class,
                        "files": dict(sorted(files.items()))},
    }


async def run_release(src: Sources, *, project: str, basis: str, recipient: str | None,
                      key: bytes | None, years: list[int], k: int, as_of: date,
                      now: datetime) -> ReleaseResult:
    if not PROJECT.fullmatch(project):
        raise Invalid("the project name is 1–100 letters, digits, '-' or '_'")
    if not basis.strip():
        raise Invalid("a release needs its legal basis and decision reference (--basis), "
                      "e.g. \"helseregisterloven § 19 a, vedtak 24/01234\"")
    if not key:
        raise Invalid(f"project {project!r} has no pseudonym key: add it to "
                      "EHR_REGISTRY_PSEUDONYM_KEYS from the secret store (never the repository)")
    if not years or any(date(y, 12, 31) >= as_of for y in years):
        raise Invalid("a release covers years that have ended")
    rows = rows_for((await src.people()).values(), await src.national_ids(), key, years)
    kept, report = anonymise(rows, k)
    folder = src.out_dir / "releases" / project / as_of.isoformat()
    shutil.rmtree(folder, ignore_errors=True)   # a release of the same day is written anew
    folder.mkdir(parents=True)
    files = write_parquet(kept, folder)
    package = datapackage(project, basis, recipient or project, as_of, files, report)
    (folder / "datapackage.json").write_text(json.dumps(package, indent=2, sort_keys=True,
                                                        ensure_ascii=False) + "\n")
    files["datapackage.json"] = _sha256(folder / "datapackage.json")
    await src.store.append(f"registry-release-{project}", None, [ResearchReleased(
        project=project, recipient=recipient or project, basis=basis, as_of=as_of,
        rows=report.rows, suppressed_rows=report.suppressed_rows, k=k, files=files,
        released_at=now)], EventContext(patient_id=None))
    return ReleaseResult(folder, files, report)
