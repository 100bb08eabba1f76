"""Identity, need-to-know access policy and the access log (DESIGN.md §4)."""
