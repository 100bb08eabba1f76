"""The analysts' API at its edge: sign-in with a Maskinporten-shaped token and a scope, and bad
input answered with a readable OperationOutcome (4xx), never a 500 or a file outside a
release."""

from __future__ import annotations

import httpx

from libs.access.dev_issuer import DevIssuer
from libs.web.service import Options
from services.registry_export.app import create_app
from services.registry_export.settings import RegistryExportSettings

ORG = {"authority": "iso6523-actorid-upis", "ID": "0192:974600951"}


async def test_sign_in_and_bad_input(database_url, kafka_bootstrap, make_topics, schema,
                                     unique, tmp_path):
    topics = {"registry.events": await make_topics("registry.events", 1),
              "journal.events": await make_topics("journal.events", 3)}
    settings = RegistryExportSettings(
        database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap,
        environment="test", dev_key_path=tmp_path / "key.pem", registry_out_dir=tmp_path,
        registry_worker_in_api=False)
    app = create_app(settings, Options(schema=schema, topic_names=topics, telemetry=False))
    issuer = DevIssuer.from_settings(settings)

    def bearer(**claims) -> dict:
        return {"Authorization": "Bearer " + issuer.mint("analyst", claims)}

    ok = bearer(client_id="ssb", scope="ehr:registry/statistics ehr:registry/research",
                consumer=ORG)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://registry") as api:
        r = await api.get("/statistics/period/2025", headers=ok)
        assert r.status_code == 200 and r.json()["value"] == []   # no worker ran: no users
        csv = await api.get("/statistics/period/2025?format=csv", headers=ok)
        assert csv.text.splitlines() == ["period,region,age,sex,group,value"]
        refusals = {
            "/statistics/point/2099": (ok, 422, "needs the year to have ended"),
            "/statistics/daily/2025": (ok, 422, "kind is one of point, period"),
            "/statistics/point/2025?format=xlsx": (ok, 422, "format is one of"),
            "/statistics/point/99999999999999999999": (ok, 422, ""),
            "/statistics/point/2025": ({}, 401, "Bearer token is required"),
            "/releases/P1/2026-01-01/..%2F..%2Fetc%2Fpasswd": (ok, 404, "no such release"),
            "/releases/P1/yesterday/datapackage.json": (ok, 422, "YYYY-MM-DD"),
            "/catalogue": (bearer(client_id="x", scope="ehr:registry/statistics"), 403,
                           "consumer organisation"),
        }
        for url, (headers, status, says) in refusals.items():
            r = await api.get(url, headers=headers)
            assert r.status_code == status, (url, r.text)
            assert r.json()["resourceType"] == "OperationOutcome", url
            assert says in r.text, (url, r.text)
        wrong_scope = bearer(client_id="x", scope="ehr:sector/nav", consumer=ORG)
        assert (await api.get("/catalogue", headers=wrong_scope)).status_code == 403
        catalogue = (await api.get("/catalogue", headers=ok)).json()
        assert catalogue["@type"] == "dcat:Catalog" and catalogue["dcat:dataset"] == []
