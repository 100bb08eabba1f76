"""The pure kernel every layer may use: time (Oslo days), the kinds of domain error, Norwegian
identifiers, and the immutable model base. No I/O, no settings, no FastAPI, SQL or Kafka."""
