"""The commands the image's pods run (`ehr run ...`, `python -m cli.probe ...`) and the facts
the chart is checked against (`ehr chart facts`), without a cluster, a database or a broker."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

from typer.testing import CliRunner

from cli import deploy, probe
from cli.main import app
from cli.manifests import MANIFESTS
from libs.web.one_write import OneWriteHttp
from tests.deploy.chart import REPO, facts

runner = CliRunner()


def test_chart_facts_prints_each_service():
    done = runner.invoke(app, ["chart", "facts"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    printed = json.loads(done.output)
    assert printed == facts()
    journal = printed["journal"]
    assert journal["kind"] == "api" and "Patient" in journal["fhirTypes"]
    assert "journal_records" in journal["projections"]


def test_chart_topics_prints_every_topic_and_its_dlq():
    done = runner.invoke(app, ["chart", "topics"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    topics = {t["name"]: t for t in json.loads(done.output)}
    assert topics["journal.events"]["partitions"] == 12
    assert topics["journal.events"]["config"]["retention.ms"] == "-1"
    assert topics["journal.events.dlq"]["partitions"] == 1


def test_run_projections_refuses_a_projection_the_service_does_not_have():
    done = runner.invoke(app, ["run", "projections", "journal", "--only", "medication_lists"])
    assert done.exit_code != 0
    assert "journal has no projection medication_lists" in done.output


def test_run_refuses_an_unknown_service():
    for args in (["run", "api", "nosuch"], ["run", "projections", "nosuch"]):
        done = runner.invoke(app, args)
        assert done.exit_code != 0 and "no service named 'nosuch'" in done.output


def test_run_api_serves_the_api_without_the_relay_and_projections(monkeypatch):
    served = {}

    def fake_run(target, **kwargs):   # uvicorn is the edge: no server is started
        served.update(kwargs, target=target)

    monkeypatch.setattr("uvicorn.run", fake_run)
    done = runner.invoke(app, ["run", "api", "medication", "--port", "9123"],
                         catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert (served["host"], served["port"], served["factory"]) == ("0.0.0.0", 9123, True)
    assert served["http"] is OneWriteHttp     # a response's head and body in one write
    factory = served["target"].args[0]   # settled(): the heap is frozen once it has built
    assert factory.keywords["options"].background is False
    medication = next(m for m in MANIFESTS if m.name == "medication")
    assert factory.func is medication.create_app
    assert deploy.port_default(next(m for m in MANIFESTS if m.name == "medication")) == 8005


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ready_probe_fails_and_names_what_it_cannot_reach():
    port = _closed_port()
    env = {"PATH": "/usr/bin:/bin", "EHR_LOG_JSON": "false",
           "DATABASE_URL": f"postgresql+asyncpg://ehr:pw@127.0.0.1:{port}/ehr",
           "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"}
    done = subprocess.run([sys.executable, "-m", "cli.probe", "ready"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "cannot reach PostgreSQL and Kafka" in done.stderr
    assert "pw" not in done.stderr and str(port) not in done.stderr


def test_kafka_is_reachable_when_a_bootstrap_server_listens():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert probe.kafka_reachable(f"127.0.0.1:{_closed_port()},127.0.0.1:{port}")
    assert not probe.kafka_reachable(f"127.0.0.1:{_closed_port()}")
    assert probe.bootstrap_servers("a:9092, [::1]:9093") == [("a", 9092), ("::1", 9093)]


def test_alive_probe_reads_the_state_of_the_main_process(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("1 (ehr worker) S 0 1 1 0 -1 4194560")
    assert probe.alive(stat)
    stat.write_text("1 (ehr) Z 0 1 1 0 -1")
    assert not probe.alive(stat)
    assert not probe.alive(tmp_path / "missing")
    assert probe.main(["nonsense"]) == 2


def test_run_relay_refuses_an_unknown_service():
    done = runner.invoke(app, ["run", "relay", "nosuch"])
    assert done.exit_code != 0 and "no service named 'nosuch'" in done.output
