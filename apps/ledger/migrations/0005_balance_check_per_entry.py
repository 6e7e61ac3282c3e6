"""The balance trigger reads only the postings of the entries a statement inserted, one index
lookup per entry, whatever the ledger's size.

0002's check joined the postings with `entry_id IN (SELECT DISTINCT entry_id FROM inserted)`, and
the planner was free to join them by reading the whole table: it did wherever ledger_posting had
no statistics or stale ones (a server not analysed yet, autovacuum off or behind), a sequential
scan of every posting ever made on every posting statement, 0.4-0.7 ms a purchase at a few
thousand postings and growing with the ledger. A LATERAL subquery per inserted entry can only be
planned as a lookup of that entry's postings."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_posting_balanced() RETURNS trigger AS $$
DECLARE
    bad_entry bigint;
    off_by numeric;
BEGIN
    %s
    IF bad_entry IS NOT NULL THEN
        RAISE EXCEPTION 'ledger entry %% does not balance (off by %%)', bad_entry, off_by
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

BY_ENTRY = (
    FUNCTION
    % """SELECT touched.entry_id, entry_sum.total INTO bad_entry, off_by
      FROM (SELECT DISTINCT entry_id FROM inserted) AS touched
     CROSS JOIN LATERAL (
           SELECT sum(p.amount) AS total FROM ledger_posting p WHERE p.entry_id = touched.entry_id
     ) AS entry_sum
     WHERE entry_sum.total <> 0
     LIMIT 1;"""
)

JOINED = (
    FUNCTION
    % """SELECT p.entry_id, sum(p.amount) INTO bad_entry, off_by
      FROM ledger_posting p
     WHERE p.entry_id IN (SELECT DISTINCT entry_id FROM inserted)
     GROUP BY p.entry_id
    HAVING sum(p.amount) <> 0
     LIMIT 1;"""
)  # 0002's, put back by a reverse migration


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BY_ENTRY, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(JOINED, params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_ach_returns")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
