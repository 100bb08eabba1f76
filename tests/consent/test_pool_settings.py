"""A service's PostgreSQL pool is sized by its settings (``EHR_DB_POOL_SIZE``,
``EHR_DB_MAX_OVERFLOW``), on the session's real PostgreSQL."""

from __future__ import annotations

import asyncio

from libs.config import Settings
from services.consent.app import Options, create_app


async def test_the_pool_keeps_what_the_settings_say_and_waits_beyond(
        database_url, kafka_bootstrap, schema, make_topics, tmp_path, monkeypatch):
    monkeypatch.setenv("EHR_DB_POOL_SIZE", "3")
    monkeypatch.setenv("EHR_DB_MAX_OVERFLOW", "0")
    topics = {t: await make_topics(t, 1) for t in ("consent.events", "audit.access",
                                                  "journal.events")}
    settings = Settings(database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap,
                        environment="test", dev_key_path=tmp_path / "key.pem")
    app = create_app(settings, Options(schema=schema, topic_names=topics, telemetry=False,
                                       background=False))
    async with app.router.lifespan_context(app):
        engine = app.state.engine
        held = [await engine.connect() for _ in range(3 - engine.pool.checkedout())]
        try:   # no fourth connection: a request waits for one instead of opening more
            assert engine.pool.checkedout() == 3
            waiting = asyncio.create_task(engine.connect().start())
            await asyncio.sleep(0.3)
            assert not waiting.done()
            await held.pop().close()
            await (await asyncio.wait_for(waiting, 10)).close()
        finally:
            for c in held:
                await c.close()
        assert engine.pool.size() == 3
