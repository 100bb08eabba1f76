"""The clinician's workspace: a home-care nurse's day on a phone or tablet (issue 18)."""
