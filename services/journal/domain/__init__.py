"""The journal service's pure domain: patients, episodes of care, IPLOS assessments, service
decisions, the clinical record (notes, observations, conditions, critical information), care
plans and tasks, and messages. No I/O and no FastAPI, SQLAlchemy or Kafka imports, and no HTTP
status codes: a refused command raises a ``libs.kernel.errors`` kind (DESIGN.md §7).

Glossary: service decision = vedtak; functional assessment = IPLOS-kartlegging (funksjonsvurdering);
service code = tjenestekode; regular GP = fastlege; municipality number = kommunenummer; city
district number = bydelsnummer; scope of a service = omfang; allocation office = tildelingskontor.

Modules: ``base`` (commands, the clinician, the checks every area shares), ``patients`` (the
stream's state and its one fold), ``episodes``, ``clinical`` / ``clinical_state``, ``process`` /
``process_state``, ``messages`` / ``messages_state`` / ``working_days``, and ``codes`` (the code
lists the decisions check against).
"""
