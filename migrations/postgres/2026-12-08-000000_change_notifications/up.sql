-- Changes reach every node (issue 15): every write to what nodes keep in memory announces
-- itself on the channel `palisade_changes`, whoever makes it — a node, the `palisade` CLI, an
-- operator's SQL. NOTIFY is transactional: listeners hear it only when the transaction commits,
-- and never if it rolls back, so a node that reloads on the announcement reads the committed
-- change. Identical announcements within one transaction are delivered once.
--
-- Payloads (parsed by crates/store/src/change_feed.rs):
--   signing_keys      any change to the key ring (one per statement: nodes reload the ring)
--   client:<id>       that client, or one of its redirect URIs, was written
--   everything        too broad to name (TRUNCATE, an id too long for a payload)
--
-- PostgreSQL only: the embedded SQLite default is one node, which applies its own changes in
-- process, so migrations/sqlite has no counterpart.

CREATE FUNCTION palisade_announce_signing_keys() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('palisade_changes', 'signing_keys');
    RETURN NULL;
END;
$$;

CREATE TRIGGER signing_keys_announce
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION palisade_announce_signing_keys();

-- TG_ARGV[0] names the column holding the client id. A NOTIFY payload must stay under 8000
-- bytes, or the write itself fails: a longer id (a client ID metadata document's URL could be
-- long) announces `everything` instead.
CREATE FUNCTION palisade_announce_client() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed_ids text[];
    changed_id text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        changed_ids := ARRAY[to_jsonb(NEW) ->> TG_ARGV[0]];
    ELSIF TG_OP = 'DELETE' THEN
        changed_ids := ARRAY[to_jsonb(OLD) ->> TG_ARGV[0]];
    ELSE
        changed_ids := ARRAY[to_jsonb(OLD) ->> TG_ARGV[0], to_jsonb(NEW) ->> TG_ARGV[0]];
    END IF;
    FOREACH changed_id IN ARRAY changed_ids LOOP
        IF octet_length(changed_id) <= 7000 THEN
            PERFORM pg_notify('palisade_changes', 'client:' || changed_id);
        ELSE
            PERFORM pg_notify('palisade_changes', 'everything');
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE FUNCTION palisade_announce_everything() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('palisade_changes', 'everything');
    RETURN NULL;
END;
$$;

CREATE TRIGGER clients_announce
    AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION palisade_announce_client('id');
CREATE TRIGGER clients_announce_truncate
    AFTER TRUNCATE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION palisade_announce_everything();

CREATE TRIGGER client_redirect_uris_announce
    AFTER INSERT OR UPDATE OR DELETE ON client_redirect_uris
    FOR EACH ROW EXECUTE FUNCTION palisade_announce_client('client_id');
CREATE TRIGGER client_redirect_uris_announce_truncate
    AFTER TRUNCATE ON client_redirect_uris
    FOR EACH STATEMENT EXECUTE FUNCTION palisade_announce_everything();
