-- The SQL objects CREATE EXTENSION outbox_pg gives users.
BEGIN;
CREATE EXTENSION outbox_pg;
SELECT plan(31);

SELECT has_schema('outbox');
SELECT has_table('outbox', 'events', 'the default outbox table');
SELECT columns_are('outbox', 'events',
	ARRAY['id', 'aggregate_type', 'aggregate_id', 'event_type', 'payload', 'headers', 'created_at']);
SELECT col_is_pk('outbox', 'events', 'id', 'col is pk outbox events id');
SELECT col_type_is('outbox', 'events', 'id', 'uuid', 'col type is outbox events id uuid');
SELECT col_default_is('outbox', 'events', 'id', 'gen_random_uuid()', 'col default is outbox events id gen_random_uuid()');
SELECT col_type_is('outbox', 'events', 'payload', 'jsonb', 'col type is outbox events payload jsonb');
SELECT col_type_is('outbox', 'events', 'headers', 'jsonb', 'col type is outbox events headers jsonb');
SELECT col_type_is('outbox', 'events', 'created_at', 'timestamp with time zone', 'col type is outbox events created_at timestamp with time zone');
SELECT col_default_is('outbox', 'events', 'created_at', 'now()', 'col default is outbox events created_at now()');
SELECT col_not_null('outbox', 'events', 'aggregate_type', 'col not null outbox events aggregate_type');
SELECT col_not_null('outbox', 'events', 'aggregate_id', 'col not null outbox events aggregate_id');
SELECT col_not_null('outbox', 'events', 'event_type', 'col not null outbox events event_type');
SELECT has_index('outbox', 'events', 'events_created_at_idx', 'created_at', 'outbox.events is indexed by created_at');
SELECT throws_ok($$INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, headers)
				  VALUES ('a', '1', 't', '["not", "an", "object"]')$$,
				 '23514', NULL, 'headers must be a JSON object');

SELECT has_table('outbox', 'tables', 'the outbox table declarations');
SELECT is((SELECT reloptions FROM pg_class WHERE oid = 'outbox.tables'::regclass),
		  ARRAY['user_catalog_table=true'],
		  'outbox.tables is a user catalog table, read with historic snapshots while decoding');
SELECT is((SELECT string_agg(format('%s %s %s', relid, id_column, payload_column), ';')
		   FROM outbox.tables),
		  'outbox.events id payload', 'outbox.events is declared');

SELECT has_function('outbox', 'publish', ARRAY['text', 'text', 'text', 'jsonb', 'jsonb']);
SELECT has_function('outbox', 'emit', ARRAY['text', 'text', 'text', 'jsonb', 'jsonb']);
SELECT has_function('outbox', 'declare_table',
	ARRAY['regclass', 'text', 'name', 'name', 'name', 'name', 'name', 'name', 'name']);
SELECT has_function('outbox', 'undeclare_table', ARRAY['regclass']);
SELECT has_function('outbox', 'replay', ARRAY['regclass', 'timestamp with time zone',
	'timestamp with time zone', 'text', 'text']);
SELECT has_function('outbox', 'purge_batch', ARRAY['regclass', 'interval', 'integer']);
SELECT has_function('outbox', 'grant_publisher', ARRAY['regrole']);
SELECT has_function('outbox', 'grant_monitor', ARRAY['regrole']);
SELECT has_view('outbox', 'slots', 'the slot monitoring view');
SELECT has_function('outbox', 'pending_events', ARRAY['name', 'integer']);
SELECT columns_are('outbox', 'slots', ARRAY['slot_name', 'database', 'active', 'active_pid',
	'restart_lsn', 'confirmed_flush_lsn', 'retained_wal_bytes', 'lag_bytes', 'wal_status',
	'safe_wal_size', 'pending_events', 'failover', 'synced']);

-- publish() and emit() return ids; publish() stores the row.
SELECT isnt(outbox.publish('order', '1', 'created', '{"a": 1}'), NULL, 'publish returns an id');
SELECT is((SELECT string_agg(format('%s %s %s %s', aggregate_type, aggregate_id, event_type, payload), ';')
		   FROM outbox.events),
		  'order 1 created {"a": 1}', 'publish inserts the event into outbox.events');

SELECT * FROM finish();
ROLLBACK;
