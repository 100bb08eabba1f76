"""The consent service, the journal and the medication service on the real stack (the
medication tests' ``ward``), for the gateway to stand in front of."""

from tests.medication.conftest import ward  # noqa: F401  (the fixture)
