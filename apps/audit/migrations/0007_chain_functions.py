"""audit_chain_append_point(): the lock and head of the chain a transaction appends to.

A transaction appends every audit row it writes to one chain: the first append takes that
chain's transaction-scoped advisory lock (key AUDT, chain) and remembers the chain in a
transaction-local setting; later appends in the same transaction reuse it. So a transaction
holds at most one chain lock and two transactions can never deadlock on them.

A VOLATILE PL/pgSQL function runs each inner query with a fresh snapshot (READ COMMITTED), so the
head it reads includes the row committed by the previous holder of the lock.

audit_chain_head(bigint), which processes of the previous release call, now appends to chain 0
under chain 0's lock, so old and new processes share chain 0 safely during a rolling deploy; an
append to chain 0 also takes the previous release's lock (a bigint key, distinct from the
two-key locks), so a transaction of the old release still open when this migration commits is
waited for rather than forked from.
The checkpoint table is append-only like the events.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION audit_chain_append_point(preferred integer, OUT chain_no integer, OUT head varchar)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    held text := current_setting('clearhouse.audit_chain', true);
BEGIN
    IF held IS NULL OR held = '' THEN
        chain_no := preferred;
        IF chain_no = 0 THEN
            -- The previous release's single-chain lock too (a bigint key, a lock of its own), so
            -- an old transaction that took it before this migration and is still open is waited
            -- for. Drop in the release after.
            PERFORM pg_advisory_xact_lock(1096107092::bigint);
        END IF;
        PERFORM pg_advisory_xact_lock(1096107092, chain_no);
        PERFORM set_config('clearhouse.audit_chain', chain_no::text, true);
    ELSE
        chain_no := held::integer;
    END IF;
    SELECT e.hash INTO head FROM audit_auditevent e WHERE e.chain = chain_no ORDER BY e.id DESC LIMIT 1;
END;
$$;

CREATE OR REPLACE FUNCTION audit_chain_head(lock_key bigint) RETURNS varchar
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    head varchar;
BEGIN
    SELECT p.head INTO head FROM audit_chain_append_point(0) AS p;
    RETURN head;
END;
$$;

CREATE OR REPLACE FUNCTION audit_auditcheckpoint_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_auditcheckpoint is append-only: % rejected', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_auditcheckpoint_append_only
    BEFORE UPDATE OR DELETE ON audit_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION audit_auditcheckpoint_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_auditcheckpoint_append_only ON audit_auditcheckpoint;
DROP FUNCTION IF EXISTS audit_auditcheckpoint_append_only();
DROP FUNCTION IF EXISTS audit_chain_append_point(integer);
CREATE OR REPLACE FUNCTION audit_chain_head(lock_key bigint) RETURNS varchar
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    head varchar;
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    SELECT hash INTO head FROM audit_auditevent ORDER BY id DESC LIMIT 1;
    RETURN head;
END;
$$;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_chain_index")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
