"""Snapshots of long streams.

Revision ID: 0003

One row per stream: its folded state at a version, for a state shape (``schema``). A write-side
cold load reads the snapshot and the events after it, so a patient with 100,000 events costs what
one with a hundred does (``libs/events/streams.py``). A snapshot is a cache: deleting the table's
rows loses nothing, the next load folds the stream from its start.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE snapshots (
            stream_id  text PRIMARY KEY,
            version    integer NOT NULL CHECK (version > 0),
            schema     text NOT NULL,
            doc        jsonb NOT NULL,
            taken_at   timestamptz NOT NULL DEFAULT now()
        )""")


def downgrade() -> None:
    op.execute("DROP TABLE snapshots")
