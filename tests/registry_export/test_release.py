"""Research releases: Parquet partitioned by year and municipality, read by DuckDB as written;
keyed pseudonyms, no direct identifiers, k-anonymous, byte-identical for the same input, a
data dictionary, the release recorded as an event; refusals without basis or key."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import duckdb
import pytest

from libs.kernel.errors import Invalid
from services.registry_export.domain.research import pseudonym
from services.registry_export.release import run_release
from tests.registry_export.support import municipality
from tests.registry_export.test_kpr import Fixed, ids_of

KEY = b"test-project-key-not-a-secret"
AS_OF = date(2026, 2, 1)


def envs_of_two_municipalities():
    return (municipality(160, 2025, seed=21, kommune="0301")
            + municipality(70, 2025, seed=22, kommune="1103")
            + municipality(3, 2025, seed=23, kommune="5001"))


async def release(engine, envs, out, key=KEY, project="P1", basis="hrl § 19 a, vedtak 26/1"):
    return await run_release(Fixed(engine, envs, out), project=project, basis=basis,
                             recipient="UiO", key=key, years=[2025], k=5, as_of=AS_OF,
                             now=datetime.now(UTC))


async def test_a_release_is_pseudonymous_k_anonymous_and_read_by_duckdb(engine, tmp_path):
    envs = envs_of_two_municipalities()
    result = await release(engine, envs, tmp_path / "a")
    again = await release(engine, envs, tmp_path / "b")
    assert result.files == again.files, "the same input gives byte-identical files"
    for rel in result.files:
        assert (result.folder / rel).read_bytes() == (again.folder / rel).read_bytes()

    glob = str(result.folder / "services" / "**" / "*.parquet")
    con = duckdb.connect()
    rows = con.execute(f"SELECT * FROM read_parquet('{glob}', hive_partitioning = true)")
    assert {d[0] for d in rows.description} >= {"pseudonym", "year", "municipality",
                                                 "age_band", "sex", "service_code"}
    assert len(rows.fetchall()) == result.report.rows > 100
    smallest = con.execute(f"""
        SELECT min(n) FROM (SELECT count(DISTINCT pseudonym) AS n
                            FROM read_parquet('{glob}', hive_partitioning = true)
                            GROUP BY year, municipality, age_band, sex)""").fetchone()[0]
    assert smallest >= 5 == result.report.k
    municipalities = {m for (m,) in con.execute(
        f"SELECT DISTINCT municipality FROM read_parquet('{glob}', hive_partitioning = true)"
    ).fetchall()}
    assert municipalities <= {"0301", "1103", "other"} and "5001" not in municipalities
    assert "5001" in result.report.grouped_municipalities

    ids = ids_of(envs)
    blob = b"".join((result.folder / f).read_bytes() for f in result.files)
    assert not any(nid.encode() in blob for nid in ids.values())
    assert not any(pid.encode() in blob for pid in ids)
    some = next(iter(ids.values()))
    known = {p for (p,) in con.execute(f"SELECT DISTINCT pseudonym FROM read_parquet('{glob}')")
             .fetchall()}
    assert pseudonym(KEY, some) in known or result.report.suppressed_people > 0

    package = json.loads((result.folder / "datapackage.json").read_text())
    names = [f["name"] for f in package["resources"][0]["schema"]["fields"]]
    assert names[:3] == ["year", "municipality", "pseudonym"]
    assert package["ehr:release"]["legal_basis"] == "hrl § 19 a, vedtak 26/1"
    recorded = [p for _, p in await Fixed(engine, envs, tmp_path).store.load(
        "registry-release-P1")]
    assert [r.files for r in recorded] == [result.files, result.files]
    assert recorded[0].rows == result.report.rows and recorded[0].recipient == "UiO"


async def test_another_project_gets_unlinkable_pseudonyms(engine, tmp_path):
    envs = municipality(60, 2025, seed=31)
    one = await release(engine, envs, tmp_path / "a", project="P1")
    two = await release(engine, envs, tmp_path / "b", key=b"another-key", project="P2")
    read = "SELECT DISTINCT pseudonym FROM read_parquet('{}')"
    a = {p for (p,) in duckdb.connect().execute(
        read.format(one.folder / "services/**/*.parquet")).fetchall()}
    b = {p for (p,) in duckdb.connect().execute(
        read.format(two.folder / "services/**/*.parquet")).fetchall()}
    assert a and b and not a & b


@pytest.mark.parametrize(("kw", "says"), [
    ({"basis": "  "}, "legal basis"),
    ({"key": None}, "no pseudonym key"),
    ({"project": "../etc"}, "project name"),
])
async def test_a_release_without_basis_or_key_is_refused(engine, tmp_path, kw, says):
    with pytest.raises(Invalid, match=says):
        await release(engine, municipality(3, 2025), tmp_path, **kw)
    assert not (tmp_path / "releases").exists()
