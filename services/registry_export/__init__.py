"""The registry export: the design card's ``services/registry-export`` (DESIGN.md §1), as an
importable package (a hyphen cannot be imported). KPR annual extracts, suppressed statistics and
pseudonymised research data sets, built from the event stream by a faust-streaming worker."""
