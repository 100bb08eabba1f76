"""``ehr services start`` runs a service as the chart does: its API, relay and projections each
in a process of their own (README, "Process model"), on the test session's servers."""

from __future__ import annotations

import asyncio
import os
import random
from datetime import date
from pathlib import Path

import httpx

from cli.main import app
from cli.services import processes, zombie
from libs.access.dev_issuer import DevIssuer
from libs.access.model import Role
from libs.config import Settings, get_settings
from libs.devstack.procs import free_port
from libs.kernel.identifiers import synthetic_number
from services.consent.manifest import MANIFEST as CONSENT
from tests.cli.test_cli import invoke
from tests.consent.conftest import HOME_CARE, MUNICIPALITY
from tests.support.waiting import passes


def _pids(local: Path) -> dict[str, int]:
    files = {p.name: local / "dev" / "services" / f"{p.name}.pid" for p in processes(CONSENT)}
    return {name: int(f.read_text()) for name, f in files.items() if f.exists()}


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return not zombie(pid)   # the processes are this test's children


async def test_a_write_reaches_the_read_model_through_the_relay_and_projection_processes(
        cli_env, monkeypatch, tmp_path):
    port, key = free_port(), tmp_path / "key.pem"
    for name, value in {"EHR_CONSENT_PORT": str(port), "EHR_DEV_KEY_PATH": str(key),
                        "EHR_LOCAL_DIR": str(tmp_path / "local"),
                        "EHR_RELAY_POLL_INTERVAL_S": "0.2"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    issuer = DevIssuer.from_settings(Settings(dev_key_path=key))   # the key the API reads
    res = await asyncio.to_thread(invoke, "topics", "apply", command=app)
    assert res.exit_code == 0, res.output
    started = await asyncio.to_thread(invoke, "services", "start", "--only", "consent",
                                      command=app)
    try:
        assert started.exit_code == 0, started.output
        pids = _pids(tmp_path / "local")
        assert sorted(pids) == ["consent-api", "consent-projections", "consent-relay"]
        assert len(set(pids.values())) == 3 and all(map(_running, pids.values()))

        def bearer(roles, unit, hpr, name):
            token = issuer.mint_practitioner(hpr, MUNICIPALITY, unit, roles, name)
            return {"Authorization": f"Bearer {token}"}
        nurse = bearer((Role.nurse,), HOME_CARE, "9144889", "Nina Sykepleier")
        leader = bearer((Role.unit_leader,), HOME_CARE, "1234567", "Leder")
        born = date(1940 + random.randrange(60), 1 + random.randrange(12), 1)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            r = await c.post("/persons", json={"national_id": synthetic_number(born, 0)},
                             headers=nurse)
            assert r.status_code == 201, r.text
            patient = r.json()["patient_id"]
            r = await c.post(f"/patients/{patient}/care-relations", headers=leader, json={
                "purpose": "home care", "basis": "service_decision",
                "reason": "hjemmesykepleie etter vedtak"})
            assert r.status_code == 201, r.text

            async def the_nurse_reads_the_consents():
                # her need-to-know comes from the relation: published by the relay process,
                # applied to access_facts by the projections process
                got = await c.get(f"/patients/{patient}/consents", headers=nurse)
                assert got.status_code == 200, got.text
            await passes(the_nurse_reads_the_consents, timeout_s=60)
    finally:
        stopped = await asyncio.to_thread(invoke, "services", "stop", "--only", "consent",
                                          command=app)
    assert stopped.exit_code == 0, stopped.output
    assert not any(map(_running, pids.values()))
