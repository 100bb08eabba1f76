"""The outbox as a queue: a published row leaves it, and it names its event without a
foreign key.

Revision ID: 0004

- The relay deletes the rows Kafka acknowledged (it marked them ``published_at`` before): the
  outbox held every event ever appended, twice over in the heap (a row and its updated version),
  and grew without end. The events table is the record; the outbox only says what is still to
  send. Published rows written before this revision are deleted here. ``published_at`` stays
  (always NULL now), so the partial index and every "not yet published" count read as before.
- No foreign key from ``outbox.position`` to ``events``: both rows are written by the same
  statement, the outbox row from the event row's ``RETURNING`` (``libs/events/store.py``), so
  the key checked nothing, and checking it cost each append a lookup and a row lock on its
  event, about 8 % of PostgreSQL's CPU per append (bench/RESULTS.md, 5 Dec).
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_position_fkey")
    op.execute("DELETE FROM outbox WHERE published_at IS NOT NULL")


def downgrade() -> None:
    op.execute("""ALTER TABLE outbox ADD CONSTRAINT outbox_position_fkey
                  FOREIGN KEY (position) REFERENCES events (position)""")
