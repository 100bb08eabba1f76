"""A function that aborts a statement on a stream version conflict.

Revision ID: 0002

``append_streams_in`` claims many streams in one statement; if any claim fails, this raises
inside that statement, so it is all or nothing without an explicit transaction (one round trip
for a batch of the access log). SQLSTATE 40001 (serialization_failure): retry.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION ehr_require_claimed(claimed boolean) RETURNS boolean
        LANGUAGE plpgsql AS $$
        BEGIN
            IF NOT claimed THEN
                RAISE EXCEPTION 'ehr: a stream is not at its expected version'
                      USING ERRCODE = '40001';
            END IF;
            RETURN true;
        END $$""")


def downgrade() -> None:
    op.execute("DROP FUNCTION ehr_require_claimed(boolean)")
