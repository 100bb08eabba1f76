"""A metric exporter that keeps what it is given, for tests that assert on metrics."""

from __future__ import annotations

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult


class CapturingMetricExporter(MetricExporter):
    def __init__(self) -> None:
        super().__init__()
        self.batches = []

    def export(self, metrics_data, timeout_millis: float = 10_000, **kwargs):
        self.batches.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        pass

    def points(self, name: str) -> list:
        out = []
        for data in self.batches:
            for rm in data.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        if m.name == name:
                            out += list(m.data.data_points)
        return out

    def names(self) -> set[str]:
        return {m.name for data in self.batches for rm in data.resource_metrics
                for sm in rm.scope_metrics for m in sm.metrics}
