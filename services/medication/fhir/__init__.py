"""FHIR R4 of the medication list. ``resources`` is the view: pure functions from
``MedicationList`` (a ``medication-<patient_id>`` stream's state) to JSON-ready resource dicts,
without ``meta``. A projection stores one new resource version per event, using ``touched`` to
learn which resources an event changed and ``resource`` to build them; it adds ``meta``
(versionId, lastUpdated).

Resource ids are the domain's: ``MedicationStatement/<entry_id>``,
``MedicationRequest/<prescription_id>``, ``MedicationAdministration/<administration_id>`` and
``List/<patient_id>``; the subject is ``Patient/<patient_id>``.

Identifiers and codes (DOMAIN.md §2.3, §2.5, §6): people are logical references by HPR number,
organisations by organisation number (ENH), only from ``IdentifierSystem``. §6 has no system for
the PLL-id, the ReseptID or the treatmentID, so no resource carries them as identifiers (the ids
above are the same UUIDs). A drug is ``medicationCodeableConcept``: its FEST LegemiddelMerkevare
id with the code system ``elements.FEST_MERKEVARE`` (an order coded with DMP's NamingSystem URL,
§2.5 [F11], is still taken), its ATC code, and its name (FEST NavnFormStyrke) as text. Free text (reasons, notes, indications)
passes as is; the state holds no national id number.

Mapping (domain -> FHIR R4):

- An entry -> ``MedicationStatement``: status active | on-hold (paused) | stopped
  (discontinued), the pause or discontinuation reason as ``statusReason``; ``effectivePeriod``
  from ``start_on`` to ``end_on`` (or to the moment it was discontinued, when earlier);
  ``dateAsserted`` and ``informationSource`` = when and by whom the entry was recorded;
  ``derivedFrom`` = the head of its prescription chain; the indication as ``reasonCode``; the
  dose in force as ``dosage``. An entry recorded from another source says where from in
  ``note`` (no extension needed).
- A prescription (ReseptID) -> ``MedicationRequest``, intent order: recalled for renewal (with or
  without change) -> completed, recalled for discontinuation -> stopped, replaced by a newer one
  but not yet recalled -> completed (as SFM shows non-head prescriptions, §2.3); the head follows
  its entry: active, on-hold (paused), stopped (discontinued). ``priorPrescription`` = the one it
  replaced, ``dosageInstruction`` = the dose it was issued with, ``requester`` the prescriber.
  The other prescriber's prescription of an entry recorded from another source is
  ``reportedBoolean`` with our clinician as ``recorder`` (we know neither its prescriber nor
  when it was written).
- An administration -> ``MedicationAdministration``: given -> completed, missed or refused ->
  not-done with a Norwegian ``statusReason``; ``performer`` the nurse or prescriber (HPR) or the
  medicine dispenser (a Device by display); ``request`` the prescription in force then; the
  planned time (``scheduled_for``, no R4 element) as a ``note``.
- The list -> ``List`` (PLL), status current, mode working, title "Pasientens legemiddelliste",
  code LOINC 10160-0 "History of Medication use Narrative" (the medication section code of IPS,
  which SFM's IPS-style document follows), ``date`` = the last change of the list's entries. It
  exists once an entry has been recorded and holds every entry not discontinued. Discontinued
  entries are left out rather than kept with ``deleted``, which R4 allows only in a list of mode
  ``changes`` (lst-2); their statements stay, status stopped.
- An imported statement (another record's medication, ``domain/imported.py``) ->
  ``MedicationStatement`` with the source's status, codings (RxNorm, ATC, SNOMED CT) and
  identifier, ``derivedFrom`` the source record by logical reference, and a ``note`` saying it
  was not checked against FEST, had no decision support, and (active) must be reconciled. It is
  not on the ``List``.
- Not mapped: dispensings (no ``MedicationDispense`` here), decision-support warnings,
  reconciliations ("medicines in use", LIB) and reviews; ``touched`` names nothing for them.

Time: everything is decided from the state alone, so a stored version stays true until the next
event. An entry past its ``end_on`` stays active with ``effectivePeriod.end`` in the past. Given
``now``, ``resource`` also decides the time-bound statuses (intended before the start, completed
after the end day) and leaves ended entries off the List, as ``reads.current_list`` does; a
projection does not pass it, and ``touched`` is about the resources built without it.

Modules: ``elements`` (codes, texts and the data types every resource uses), ``resources`` (the
resources of a list), ``touched`` (what an event changed), ``from_fhir`` (a MedicationRequest
sent to be ordered), ``imported`` (a MedicationStatement from another record, in and out).
The FHIR API's routers are ``http/fhir.py`` and ``http/imported.py``.
"""
