-- outbox_pg 0.1: the outbox table, functions to publish events, and the
-- declarations the outbox_pg output plugin reads.

\echo Use "CREATE EXTENSION outbox_pg" to load this file. \quit

CREATE SCHEMA outbox;
COMMENT ON SCHEMA outbox IS 'Transactional outbox (outbox_pg)';

-- Which tables are outbox tables, and which column holds each event field.
-- A user catalog table, so that the walsender reads it with the historic
-- snapshot of the change it decodes: a declaration takes effect exactly at
-- its commit, and a rolled-back one never does.  The plugin reads the
-- columns by position: append new columns at the end only.
CREATE TABLE outbox.tables (
	relid regclass PRIMARY KEY,
	id_column name NOT NULL,
	aggregate_type_column name,
	aggregate_id_column name,
	event_type_column name,
	payload_column name NOT NULL,
	headers_column name,
	created_at_column name
) WITH (user_catalog_table = true);
COMMENT ON TABLE outbox.tables IS
	'Outbox tables whose inserts the outbox_pg plugin ships; change with outbox.declare_table() and outbox.undeclare_table()';

-- The default outbox table.
CREATE TABLE outbox.events (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	aggregate_type text NOT NULL,
	aggregate_id text NOT NULL,
	event_type text NOT NULL,
	payload jsonb,
	headers jsonb CHECK (headers IS NULL OR jsonb_typeof(headers) = 'object'),
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_created_at_idx ON outbox.events (created_at);
COMMENT ON TABLE outbox.events IS
	'Default outbox table: every INSERT is shipped; rows may be deleted at once or kept and purged with outbox.purge()';
COMMENT ON COLUMN outbox.events.headers IS
	'Object of string values, shipped as Kafka record headers (e.g. traceparent)';

INSERT INTO outbox.tables VALUES
	('outbox.events', 'id', 'aggregate_type', 'aggregate_id', 'event_type',
	 'payload', 'headers', 'created_at');

-- Users' declarations are user data; the default table's row is ours.
SELECT pg_catalog.pg_extension_config_dump('outbox.tables',
	'WHERE relid <> ''outbox.events''::regclass');
SELECT pg_catalog.pg_extension_config_dump('outbox.events', '');

-- C functions.

CREATE FUNCTION outbox.emit(
	aggregate_type text,
	aggregate_id text,
	event_type text,
	payload jsonb,
	headers jsonb DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'outbox_emit'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION outbox.emit(text, text, text, jsonb, jsonb) IS
	'Publishes an event as a transactional logical decoding message (no table row); returns its id';

CREATE FUNCTION outbox._emit_stored(
	id "any", aggregate_type "any", aggregate_id "any", event_type "any",
	payload "any", headers "any", created_at "any")
RETURNS void
AS 'MODULE_PATHNAME', 'outbox_emit_stored'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION outbox._invalidate(regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'outbox_invalidate'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

-- The key outbox.emit() and outbox.replay() sign their messages with, so
-- that the plugin can tell them from messages any role can write with
-- pg_logical_emit_message() (docs/format.md).  Only the extension's owner
-- can read it; C functions read it without a privilege check.  A user
-- catalog table, so the walsender reads the key in force when a message
-- was written.  Not dumped: a restored database gets a key of its own.
CREATE TABLE outbox.signing_key (
	key bytea NOT NULL CHECK (length(key) = 32)
) WITH (user_catalog_table = true);
CREATE UNIQUE INDEX signing_key_one_row ON outbox.signing_key ((true));
REVOKE ALL ON outbox.signing_key FROM PUBLIC;
COMMENT ON TABLE outbox.signing_key IS
	'The key outbox.emit() signs its messages with; readable by the extension owner only; replace with outbox.rotate_signing_key()';

CREATE FUNCTION outbox._new_signing_key()
RETURNS bytea
AS 'MODULE_PATHNAME', 'outbox_new_signing_key'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

INSERT INTO outbox.signing_key VALUES (outbox._new_signing_key());

-- Writers hold their lock on the key until they commit, so the exclusive
-- lock waits for them: no message is signed with a key its decoder no
-- longer sees.
CREATE FUNCTION outbox.rotate_signing_key()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	LOCK TABLE outbox.signing_key IN ACCESS EXCLUSIVE MODE;
	DELETE FROM outbox.signing_key;
	INSERT INTO outbox.signing_key VALUES (outbox._new_signing_key());
	PERFORM outbox._invalidate('outbox.signing_key');
END
$$;
COMMENT ON FUNCTION outbox.rotate_signing_key() IS
	'Replaces the key outbox.emit() signs its messages with (after a suspected leak); messages written before keep being checked against the old key';

-- Rows of a partitioned table are changes of its partitions, so a
-- declaration concerns them all.  (pg_partition_tree() is empty for a table
-- that is not partitioned.)
CREATE FUNCTION outbox._invalidate_tree(tbl regclass)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT outbox._invalidate(r)
	FROM (SELECT tbl AS r UNION SELECT relid FROM pg_partition_tree(tbl)) s;
$$;

-- Publishing.

CREATE FUNCTION outbox.publish(
	aggregate_type text,
	aggregate_id text,
	event_type text,
	payload jsonb,
	headers jsonb DEFAULT NULL)
RETURNS uuid
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload, headers)
	VALUES (aggregate_type, aggregate_id, event_type, payload, headers)
	RETURNING id
$$;
COMMENT ON FUNCTION outbox.publish(text, text, text, jsonb, jsonb) IS
	'Publishes an event by inserting it into outbox.events; returns its id';

-- Declaring outbox tables.

CREATE FUNCTION outbox._has_column(tbl regclass, col name)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT FROM pg_attribute
				   WHERE attrelid = tbl AND attname = col AND attnum > 0
					   AND NOT attisdropped)
$$;

CREATE FUNCTION outbox._check_column(tbl regclass, field text, col name,
									 allowed regtype[])
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	coltype regtype;
BEGIN
	IF col IS NULL THEN
		RETURN;
	END IF;
	SELECT a.atttypid::regtype INTO coltype
	FROM pg_attribute a
	WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0
		AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table % has no column "%" for event field %', tbl, col, field
			USING ERRCODE = 'undefined_column',
				  HINT = format('Pass %s_column => ''<column>'' naming an existing column.', field);
	END IF;
	IF allowed IS NOT NULL AND coltype <> ALL (allowed) THEN
		RAISE EXCEPTION 'column "%" of table % has type %, which cannot hold event field %',
			col, tbl, coltype, field
			USING ERRCODE = 'datatype_mismatch',
				  HINT = format('Event field %s needs one of the types %s.', field, allowed::text);
	END IF;
END
$$;

CREATE FUNCTION outbox.declare_table(
	tbl regclass,
	layout text DEFAULT 'outbox_pg',
	id_column name DEFAULT NULL,
	aggregate_type_column name DEFAULT NULL,
	aggregate_id_column name DEFAULT NULL,
	event_type_column name DEFAULT NULL,
	payload_column name DEFAULT NULL,
	headers_column name DEFAULT NULL,
	created_at_column name DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d name[];	-- the layout's column names, one per event field
BEGIN
	d := CASE layout
		WHEN 'outbox_pg' THEN ARRAY['id', 'aggregate_type', 'aggregate_id',
			'event_type', 'payload', 'headers', 'created_at']::name[]
		WHEN 'debezium' THEN ARRAY['id', 'aggregatetype', 'aggregateid',
			'type', 'payload', NULL, NULL]::name[]
		WHEN 'classic' THEN ARRAY['id', 'aggregate_type', 'aggregate_id',
			'event_type', 'payload', NULL, 'created_at_datetime']::name[]
	END;
	IF d IS NULL THEN
		RAISE EXCEPTION 'unknown outbox table layout "%"', layout
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use outbox_pg, debezium or classic, and name columns that differ with the *_column arguments.';
	END IF;
	-- Declaring a table ships every row inserted into it: only a role that
	-- may read it can do that.
	IF NOT has_table_privilege(tbl, 'SELECT') THEN
		RAISE EXCEPTION 'permission denied to declare table %', tbl
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Its inserts would be shipped to Kafka, and you may not read it.',
				  HINT = 'Ask the table''s owner to declare it, or to grant you SELECT on it.';
	END IF;
	IF (SELECT relkind FROM pg_class WHERE oid = tbl) NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '% is not a table', tbl
			USING ERRCODE = 'wrong_object_type',
				  HINT = 'Only ordinary and partitioned tables can be outbox tables.';
	END IF;

	id_column := coalesce(id_column, d[1]);
	aggregate_type_column := coalesce(aggregate_type_column, d[2]);
	aggregate_id_column := coalesce(aggregate_id_column, d[3]);
	event_type_column := coalesce(event_type_column, d[4]);
	payload_column := coalesce(payload_column, d[5]);
	-- headers and created_at are optional: the layout's column is used
	-- where the table has it, and '' means none.
	headers_column := CASE
		WHEN headers_column = '' THEN NULL
		WHEN headers_column IS NOT NULL THEN headers_column
		WHEN outbox._has_column(tbl, d[6]) THEN d[6] END;
	created_at_column := CASE
		WHEN created_at_column = '' THEN NULL
		WHEN created_at_column IS NOT NULL THEN created_at_column
		WHEN outbox._has_column(tbl, d[7]) THEN d[7] END;

	PERFORM outbox._check_column(tbl, 'id', id_column, NULL);
	PERFORM outbox._check_column(tbl, 'aggregate_type', aggregate_type_column, NULL);
	PERFORM outbox._check_column(tbl, 'aggregate_id', aggregate_id_column, NULL);
	PERFORM outbox._check_column(tbl, 'event_type', event_type_column, NULL);
	PERFORM outbox._check_column(tbl, 'payload', payload_column,
		'{jsonb,json,text,varchar}');
	PERFORM outbox._check_column(tbl, 'headers', headers_column, '{jsonb,json}');
	PERFORM outbox._check_column(tbl, 'created_at', created_at_column,
		'{timestamptz,timestamp}');

	-- No ON CONFLICT: PostgreSQL does not allow it on a user catalog table.
	UPDATE outbox.tables SET
		id_column = declare_table.id_column,
		aggregate_type_column = declare_table.aggregate_type_column,
		aggregate_id_column = declare_table.aggregate_id_column,
		event_type_column = declare_table.event_type_column,
		payload_column = declare_table.payload_column,
		headers_column = declare_table.headers_column,
		created_at_column = declare_table.created_at_column
	WHERE relid = tbl;
	IF NOT FOUND THEN
		INSERT INTO outbox.tables VALUES (tbl, id_column, aggregate_type_column,
			aggregate_id_column, event_type_column, payload_column,
			headers_column, created_at_column);
	END IF;
	PERFORM outbox._invalidate_tree(tbl);
END
$$;
COMMENT ON FUNCTION outbox.declare_table(regclass, text, name, name, name, name, name, name, name) IS
	'Makes a table an outbox table: its inserts from this transaction''s commit on are shipped';

CREATE FUNCTION outbox.undeclare_table(tbl regclass)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM outbox.tables WHERE relid = tbl;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	PERFORM outbox._invalidate_tree(tbl);
	RETURN true;
END
$$;
COMMENT ON FUNCTION outbox.undeclare_table(regclass) IS
	'Stops shipping a table''s inserts from this transaction''s commit on; false if it was not declared';

-- A dropped table's OID may be reused by a new table, which must not
-- inherit its declaration.  Event triggers run as the role that ran the
-- DDL, which may not even see the outbox schema: the function is SECURITY
-- DEFINER (with a pinned search_path), and leaves at once when no declared
-- table was dropped, so that a DROP elsewhere never fails because of us.
CREATE FUNCTION outbox._forget_dropped_tables()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- DROP EXTENSION drops outbox.tables too.
	IF to_regclass('outbox.tables') IS NULL OR NOT EXISTS (
		SELECT FROM outbox.tables t, pg_event_trigger_dropped_objects() d
		WHERE d.classid = 'pg_class'::regclass AND d.objid = t.relid::oid
			AND d.objsubid = 0) THEN
		RETURN;
	END IF;
	DELETE FROM outbox.tables t
	USING pg_event_trigger_dropped_objects() d
	WHERE d.classid = 'pg_class'::regclass AND d.objid = t.relid::oid
		AND d.objsubid = 0;
END
$$;
CREATE EVENT TRIGGER outbox_forget_dropped_tables ON sql_drop
	EXECUTE FUNCTION outbox._forget_dropped_tables();

-- Replay and retention.

CREATE FUNCTION outbox._table_columns(tbl regclass)
RETURNS outbox.tables
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t outbox.tables;
BEGIN
	SELECT * INTO t FROM outbox.tables WHERE relid = tbl;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table % is not an outbox table', tbl
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Declare it with outbox.declare_table(), or name a table listed in outbox.tables.';
	END IF;
	RETURN t;
END
$$;

-- The WHERE clause selecting stored events by creation time and id range;
-- the bounds are $1 to $4 of the query it goes into.
CREATE FUNCTION outbox._event_filter(t outbox.tables, since timestamptz,
									 until timestamptz, from_id text, to_id text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	id_type text;
	clauses text[] := ARRAY['true'];
BEGIN
	IF (since IS NOT NULL OR until IS NOT NULL) AND t.created_at_column IS NULL THEN
		RAISE EXCEPTION 'outbox table % has no created_at column', t.relid
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Select events by id range instead, or declare the table with created_at_column.';
	END IF;
	SELECT format_type(atttypid, atttypmod) INTO id_type FROM pg_attribute
	WHERE attrelid = t.relid AND attname = t.id_column;
	IF since IS NOT NULL THEN
		clauses := clauses || format('%I >= $1', t.created_at_column);
	END IF;
	IF until IS NOT NULL THEN
		clauses := clauses || format('%I < $2', t.created_at_column);
	END IF;
	IF from_id IS NOT NULL THEN
		clauses := clauses || format('%I >= $3::%s', t.id_column, id_type);
	END IF;
	IF to_id IS NOT NULL THEN
		clauses := clauses || format('%I <= $4::%s', t.id_column, id_type);
	END IF;
	RETURN array_to_string(clauses, ' AND ');
END
$$;

CREATE FUNCTION outbox.replay(
	tbl regclass DEFAULT 'outbox.events',
	since timestamptz DEFAULT NULL,
	until timestamptz DEFAULT NULL,
	from_id text DEFAULT NULL,
	to_id text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t outbox.tables := outbox._table_columns(tbl);
	col text[];
	n bigint;
BEGIN
	-- One expression per event field, NULL where the table has no column.
	SELECT array_agg(CASE WHEN c IS NULL THEN 'NULL::text' ELSE quote_ident(c) END
					 ORDER BY i)
	INTO col
	FROM unnest(ARRAY[t.id_column, t.aggregate_type_column, t.aggregate_id_column,
					  t.event_type_column, t.payload_column, t.headers_column,
					  t.created_at_column]) WITH ORDINALITY AS u(c, i);

	-- The rows are sorted before the function runs on them, so events are
	-- emitted in creation order.
	EXECUTE format(
		'SELECT count(outbox._emit_stored(%s)) FROM '
		'(SELECT * FROM %s WHERE %s ORDER BY %s%s OFFSET 0) s',
		array_to_string(col, ', '), tbl,
		outbox._event_filter(t, since, until, from_id, to_id),
		CASE WHEN t.created_at_column IS NULL THEN ''
			 ELSE quote_ident(t.created_at_column) || ', ' END,
		quote_ident(t.id_column))
	INTO n
	USING since, until, from_id, to_id;
	RETURN n;
END
$$;
COMMENT ON FUNCTION outbox.replay(regclass, timestamptz, timestamptz, text, text) IS
	'Ships stored events again (same id and created_at), as of this transaction''s commit; returns how many';

CREATE FUNCTION outbox.purge_batch(
	tbl regclass DEFAULT 'outbox.events',
	older_than interval DEFAULT '7 days',
	batch_size integer DEFAULT 10000)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t outbox.tables := outbox._table_columns(tbl);
	n bigint;
BEGIN
	IF t.created_at_column IS NULL THEN
		RAISE EXCEPTION 'outbox table % has no created_at column', tbl
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Declare the table with created_at_column to purge it by age.';
	END IF;
	IF batch_size IS NULL OR batch_size < 1 THEN
		RAISE EXCEPTION 'batch_size must be at least 1'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	EXECUTE format(
		'DELETE FROM %s WHERE ctid = ANY (ARRAY('
		'SELECT ctid FROM %s WHERE %I < now() - $1 LIMIT $2 FOR UPDATE SKIP LOCKED))',
		tbl, tbl, t.created_at_column)
	USING older_than, batch_size;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION outbox.purge_batch(regclass, interval, integer) IS
	'Deletes at most batch_size events older than older_than; returns how many';

CREATE PROCEDURE outbox.purge(
	tbl regclass DEFAULT 'outbox.events',
	older_than interval DEFAULT '7 days',
	batch_size integer DEFAULT 10000)
LANGUAGE plpgsql
AS $$
DECLARE
	n bigint;
BEGIN
	LOOP
		n := outbox.purge_batch(tbl, older_than, batch_size);
		COMMIT;
		EXIT WHEN n < batch_size;
	END LOOP;
END
$$;
COMMENT ON PROCEDURE outbox.purge(regclass, interval, integer) IS
	'Deletes events older than older_than in batches of batch_size, committing after each';

-- Watching the slots.

-- How many events a slot has yet to deliver, counted exactly by decoding
-- with the plugin itself: a temporary copy of the slot (which an active
-- slot allows) is peeked from the slot's position and dropped.  Events
-- whose rows were deleted since are still pending, as they still have to
-- be shipped.  Decoding costs time in proportion to the backlog, so the
-- count stops at max_events (a whole transaction at a time, so it can
-- pass it): a result of max_events means "at least".
CREATE FUNCTION outbox.pending_events(slot name, max_events integer DEFAULT 100000)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	copy name := 'outbox_pg_pending_' || pg_backend_pid();
	n bigint;
BEGIN
	IF max_events IS NULL OR max_events < 1 THEN
		RAISE EXCEPTION 'max_events must be at least 1'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT EXISTS (SELECT FROM pg_replication_slots s
				   WHERE s.slot_name = slot AND s.plugin = 'outbox_pg') THEN
		RAISE EXCEPTION 'replication slot "%" does not exist or does not use outbox_pg', slot
			USING ERRCODE = 'undefined_object',
				  HINT = 'SELECT slot_name FROM outbox.slots lists the outbox_pg slots.';
	END IF;
	-- Slots live on the primary; a lost slot has nothing left to decode.
	IF pg_is_in_recovery() OR EXISTS (SELECT FROM pg_replication_slots s
									  WHERE s.slot_name = slot AND s.wal_status = 'lost') THEN
		RETURN NULL;
	END IF;
	-- A copy left by an earlier failure in this session goes first.
	IF EXISTS (SELECT FROM pg_replication_slots s WHERE s.slot_name = copy) THEN
		PERFORM pg_drop_replication_slot(copy);
	END IF;
	PERFORM pg_copy_logical_replication_slot(slot, copy, true);
	BEGIN
		SELECT count(*) INTO n FROM pg_logical_slot_peek_changes(copy, NULL, max_events);
	EXCEPTION WHEN OTHERS THEN
		PERFORM pg_drop_replication_slot(copy);
		RAISE;
	END;
	PERFORM pg_drop_replication_slot(copy);
	RETURN least(n, max_events);
END
$$;
COMMENT ON FUNCTION outbox.pending_events(name, integer) IS
	'Events the slot has yet to deliver (decoded exactly, up to max_events; max_events means at least that many)';

CREATE VIEW outbox.slots AS
SELECT s.slot_name,
	s.database,
	s.active,
	s.active_pid,
	s.restart_lsn,
	s.confirmed_flush_lsn,
	pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::bigint
		AS retained_wal_bytes,
	pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint
		AS lag_bytes,
	s.wal_status,
	s.safe_wal_size,
	-- A slot decodes only in its own database.
	CASE WHEN s.database = pg_catalog.current_database()
		THEN outbox.pending_events(s.slot_name) END AS pending_events
FROM pg_catalog.pg_replication_slots s
WHERE s.plugin = 'outbox_pg' AND NOT s.temporary;
COMMENT ON VIEW outbox.slots IS
	'outbox_pg replication slots: activity, confirmed position, retained WAL, lag in bytes, and events yet to deliver (up to 100000; NULL for another database''s slot)';

-- Privileges: nothing for PUBLIC; outbox.grant_publisher() gives a role
-- what publishing needs.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA outbox FROM PUBLIC;
REVOKE ALL ON PROCEDURE outbox.purge(regclass, interval, integer) FROM PUBLIC;

CREATE FUNCTION outbox.grant_publisher(role regrole)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	EXECUTE format('GRANT USAGE ON SCHEMA outbox TO %s', role);
	-- SELECT (id): publish() returns the new id with INSERT ... RETURNING.
	EXECUTE format('GRANT INSERT, SELECT (id) ON outbox.events TO %s', role);
	EXECUTE format('GRANT EXECUTE ON FUNCTION outbox.publish(text, text, text, jsonb, jsonb), '
				   'outbox.emit(text, text, text, jsonb, jsonb) TO %s', role);
END
$$;
COMMENT ON FUNCTION outbox.grant_publisher(regrole) IS
	'Lets a role publish events with outbox.publish(), outbox.emit() or INSERT into outbox.events';
REVOKE ALL ON FUNCTION outbox.grant_publisher(regrole) FROM PUBLIC;

CREATE FUNCTION outbox.grant_monitor(role regrole)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	EXECUTE format('GRANT USAGE ON SCHEMA outbox TO %s', role);
	EXECUTE format('GRANT SELECT ON outbox.slots, outbox.tables TO %s', role);
	EXECUTE format('GRANT EXECUTE ON FUNCTION outbox.pending_events(name, integer) TO %s', role);
END
$$;
COMMENT ON FUNCTION outbox.grant_monitor(regrole) IS
	'Lets a role read outbox.slots and outbox.tables and call outbox.pending_events()';
REVOKE ALL ON FUNCTION outbox.grant_monitor(regrole) FROM PUBLIC;
