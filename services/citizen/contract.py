"""The citizen service's published events: none. It reads ``journal.events``,
``medication.events``, ``consent.events`` and ``audit.access``; a citizen's choices land in the
consent service through its API, with the citizen's own token (README, "Citizens"), so they are
``consent.*`` events there, decided and stored once."""

from __future__ import annotations
