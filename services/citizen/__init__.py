"""The citizen's side of the record: read models of what is shared with the person, an API for
the portal and third-party citizen apps, and the portal itself (README, "Citizens")."""
