"""Pure shaping of what the journal and the medication service answer into what a nurse sees:
the day's round, the patient at the door, the vital-sign charts."""
