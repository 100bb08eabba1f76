"""Event store, outbox and projection bookkeeping.

Revision ID: 0001
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per stream: appends update it with WHERE version = expected, so a concurrent
    # append with the same expected version finds no row and fails (optimistic concurrency
    # from the database, never a read-then-check in Python).
    op.execute("""
        CREATE TABLE streams (
            stream_id   text PRIMARY KEY,
            version     integer NOT NULL CHECK (version > 0),
            patient_id  uuid,
            updated_at  timestamptz NOT NULL DEFAULT now()
        )""")
    # transaction_id gives a gap-free global commit order: rows are read only below the oldest
    # transaction still in flight, so a reader never skips a row that commits later.
    op.execute("""
        CREATE TABLE events (
            position        bigserial PRIMARY KEY,
            transaction_id  xid8 NOT NULL DEFAULT pg_current_xact_id(),
            event_id        uuid NOT NULL UNIQUE,
            stream_id       text NOT NULL,
            stream_version  integer NOT NULL,
            type            text NOT NULL,
            schema_version  integer NOT NULL,
            patient_id      uuid,
            recorded_at     timestamptz NOT NULL,
            envelope        jsonb NOT NULL,
            CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
        )""")
    op.execute("CREATE INDEX events_commit_order ON events (transaction_id, position)")
    op.execute("CREATE INDEX events_patient ON events (patient_id, position)")
    op.execute("""
        CREATE TABLE outbox (
            position      bigint PRIMARY KEY REFERENCES events (position),
            topic         text NOT NULL,
            key           bytea,
            traceparent   text,
            tracestate    text,
            published_at  timestamptz
        )""")
    op.execute("CREATE INDEX outbox_unpublished ON outbox (position) WHERE published_at IS NULL")
    op.execute("""
        CREATE TABLE projection_positions (
            projection   text NOT NULL,
            topic        text NOT NULL,
            partition    integer NOT NULL,
            next_offset  bigint NOT NULL,
            updated_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (projection, topic, partition)
        )""")
    op.execute("""
        CREATE TABLE projection_events (
            projection  text NOT NULL,
            event_id    uuid NOT NULL,
            PRIMARY KEY (projection, event_id)
        )""")


def downgrade() -> None:
    for table in ("projection_events", "projection_positions", "outbox", "events", "streams"):
        op.execute(f"DROP TABLE {table}")
