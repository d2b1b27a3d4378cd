-- stream_writers (migration 0020) read every advisory lock of the PostgreSQL server, so
-- the processes and writes of other databases on the same server (other homeservers,
-- concurrent test runs) counted as this one's peers: positions waited on writes that were
-- not ours, and a process waited 10 s for answers from processes that never hear our
-- NOTIFYs. Advisory locks carry the database they were taken in: keep only ours.
CREATE OR REPLACE FUNCTION stream_writers(write_class integer, process_class integer) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    last bigint;
    here oid;
BEGIN
    SELECT oid INTO here FROM pg_database WHERE datname = current_database();
    SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO last FROM stream_seq;
    RETURN jsonb_build_object(
        'last', last,
        'writers', (SELECT COALESCE(jsonb_object_agg(stream, writers), '{}'::jsonb) FROM (
            SELECT objid::bigint AS stream, jsonb_agg(virtualtransaction) AS writers FROM pg_locks
            WHERE locktype = 'advisory' AND database = here AND classid = write_class::oid AND objsubid = 2
            AND granted
            GROUP BY objid) w),
        'processes', (SELECT COALESCE(jsonb_agg(objid::bigint), '[]'::jsonb) FROM pg_locks
            WHERE locktype = 'advisory' AND database = here AND classid = process_class::oid AND objsubid = 2
            AND granted));
END $$;
