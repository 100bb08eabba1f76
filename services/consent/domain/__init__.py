"""The consent service's pure domain (DESIGN.md §7): no I/O, no FastAPI, SQL or Kafka, no HTTP
status codes.

- ``commands``: what a client asks for (one immutable model per decision);
- ``decisions``: ``decide(facts, command, by, now) -> events`` over the patient's access facts
  (``libs.access.facts``), raising the kinds of ``libs.kernel.errors``.

The events are the consent.events contract (``services.consent.contract``).
"""
