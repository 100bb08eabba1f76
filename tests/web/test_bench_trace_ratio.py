"""The benchmarks measure our services as the chart deploys them: for a benchmark's run, the
services it starts sample their traces at the chart's ``telemetry.traceRatio``, unless
``EHR_OTEL_TRACE_RATIO`` says otherwise; its settings say which; and the process that ran it (a
test that invokes a benchmark's command line) keeps its own settings afterwards."""

from __future__ import annotations

import os

import yaml

from bench.util import TRACE_RATIO_ENV, chart_trace_ratio, telemetry_setting, traced_as_deployed
from libs.config import REPO_ROOT, Settings


def _unset(monkeypatch) -> None:
    monkeypatch.setenv(TRACE_RATIO_ENV, "1")   # so that teardown restores what was there
    monkeypatch.delenv(TRACE_RATIO_ENV)


def test_the_services_of_a_run_trace_at_the_charts_ratio_and_the_process_keeps_its_own(
        monkeypatch):
    _unset(monkeypatch)
    chart = yaml.safe_load((REPO_ROOT / "helm/ehr/values.yaml").read_text())["telemetry"]
    assert Settings().otel_trace_ratio == 1.0   # the settings' own default, before
    with traced_as_deployed():
        assert Settings().otel_trace_ratio == chart["traceRatio"] == chart_trace_ratio() < 1.0
        assert telemetry_setting() == (
            f"our services with the SDK and no exporter, traces sampled at "
            f"{chart['traceRatio']:g} (the chart's telemetry.traceRatio) (EHR_OTEL_TRACE_RATIO)")
    assert TRACE_RATIO_ENV not in os.environ and Settings().otel_trace_ratio == 1.0


def test_a_ratio_given_for_the_run_is_kept_and_reported(monkeypatch):
    monkeypatch.setenv(TRACE_RATIO_ENV, "0.5")
    with traced_as_deployed():
        assert Settings().otel_trace_ratio == 0.5
        assert "traces sampled at 0.5 (EHR_OTEL_TRACE_RATIO)" in telemetry_setting()
    assert os.environ[TRACE_RATIO_ENV] == "0.5"


def test_without_a_run_the_settings_default_is_reported(monkeypatch):
    _unset(monkeypatch)
    assert "traces sampled at 1 (EHR_OTEL_TRACE_RATIO)" in telemetry_setting()
