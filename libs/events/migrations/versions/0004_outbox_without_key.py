"""The outbox names its event without a foreign key.

Revision ID: 0004

Both rows are written by the same statement, the outbox row from the event row's ``RETURNING``
(``libs/events/store.py``), so the key checked nothing; checking it cost every append a lookup
and a row lock on its event, about 8 % of PostgreSQL's CPU per append (bench/RESULTS.md,
5 Dec). Published rows are deleted by the relay a day after they went out
(``EHR_RELAY_KEEP_PUBLISHED_S``, ``libs/events/relay.py``), a bounded batch at a time, so a
store upgraded with years of them is pruned without one long statement here.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_position_fkey")


def downgrade() -> None:
    op.execute("""ALTER TABLE outbox ADD CONSTRAINT outbox_position_fkey
                  FOREIGN KEY (position) REFERENCES events (position) NOT VALID""")
