"""The workspace publishes no events: it serves pages, and every command it takes lands in the
owning service (journal, medication, consent) through that service's API with the clinician's
own token, so need-to-know, the access log and If-Match stay where they are."""

from __future__ import annotations
