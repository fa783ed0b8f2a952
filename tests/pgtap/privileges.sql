-- Least privilege: nothing for PUBLIC; outbox.grant_publisher() gives a
-- role exactly what publishing needs.
BEGIN;
CREATE EXTENSION outbox_pg;
SELECT plan(42);

-- pgTAP keeps its state in temporary tables; the roles below write to them.
GRANT ALL ON ALL TABLES IN SCHEMA pg_temp TO PUBLIC;
GRANT ALL ON ALL SEQUENCES IN SCHEMA pg_temp TO PUBLIC;

CREATE ROLE outbox_tap_app;
CREATE ROLE outbox_tap_other;
CREATE ROLE outbox_tap_monitor;
SELECT lives_ok($$SELECT outbox.grant_publisher('outbox_tap_app')$$, 'grant_publisher');
SELECT lives_ok($$SELECT outbox.grant_monitor('outbox_tap_monitor')$$, 'grant_monitor');

SELECT ok(NOT has_function_privilege('public', oid, 'EXECUTE'),
		  format('PUBLIC cannot execute %s', oid::regprocedure))
FROM pg_proc WHERE pronamespace = 'outbox'::regnamespace
ORDER BY oid::regprocedure::text;

SELECT ok(NOT has_schema_privilege('outbox_tap_other', 'outbox', 'USAGE'),
		  'a role without grants cannot use schema outbox');

SET LOCAL ROLE outbox_tap_other;
SELECT throws_ok($$SELECT outbox.publish('o', '1', 't', '{}')$$, '42501', NULL,
				 'a role without grants cannot publish');
RESET ROLE;

SET LOCAL ROLE outbox_tap_app;
SELECT lives_ok($$SELECT outbox.publish('o', '1', 'published', '{}')$$, 'the publisher can publish()');
SELECT lives_ok($$SELECT outbox.emit('o', '1', 'emitted', '{}')$$, 'the publisher can emit()');
SELECT lives_ok($$INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type)
				  VALUES ('o', '1', 'inserted')$$, 'the publisher can insert');
SELECT throws_ok($$SELECT payload FROM outbox.events$$, '42501', NULL,
				 'the publisher cannot read events');
SELECT throws_ok($$DELETE FROM outbox.tables$$, '42501', NULL,
				 'the publisher cannot change declarations');
SELECT throws_ok($$SELECT outbox.declare_table('outbox.events')$$, '42501', NULL,
				 'the publisher cannot declare tables');
SELECT throws_ok($$SELECT outbox.replay()$$, '42501', NULL,
				 'the publisher cannot replay');
RESET ROLE;

SET LOCAL ROLE outbox_tap_monitor;
SELECT lives_ok($$SELECT * FROM outbox.slots$$, 'the monitor can read outbox.slots');
SELECT throws_ok($$SELECT outbox.publish('o', '1', 't', '{}')$$, '42501', NULL,
				 'the monitor cannot publish');
RESET ROLE;

-- The signing key is the extension owner's alone: whoever reads it can
-- forge events (docs/format.md).
SELECT ok(NOT has_table_privilege(r, 'outbox.signing_key', 'SELECT'),
		  format('%s cannot read the signing key', r))
FROM unnest(ARRAY['outbox_tap_app', 'outbox_tap_monitor', 'outbox_tap_other']) r;

-- The extension's event trigger runs for every DROP by any role, which may
-- not even see schema outbox: DDL elsewhere must not fail because of it.
GRANT CREATE ON SCHEMA public TO outbox_tap_other;
SET LOCAL ROLE outbox_tap_other;
SELECT lives_ok($$CREATE TABLE public.tap_plain (a int); DROP TABLE public.tap_plain$$,
				'a role without grants on outbox creates and drops its own tables');
CREATE TABLE public.tap_declared (id int, aggregate_type text, aggregate_id text,
								  event_type text, payload jsonb);
RESET ROLE;
SELECT outbox.declare_table('public.tap_declared');
SET LOCAL ROLE outbox_tap_other;
SELECT lives_ok($$DROP TABLE public.tap_declared$$,
				'the owner of a declared table drops it without grants on outbox');
RESET ROLE;
SELECT is((SELECT count(*) FROM outbox.tables WHERE relid::text = 'tap_declared'), 0::bigint,
		  'and its declaration is gone with it');

-- Declaring ships every row inserted into a table: only for roles that may
-- read it.
CREATE ROLE outbox_tap_declarer;
GRANT USAGE ON SCHEMA outbox TO outbox_tap_declarer;
GRANT SELECT, INSERT, UPDATE ON outbox.tables TO outbox_tap_declarer;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA outbox TO outbox_tap_declarer;
CREATE TABLE public.tap_secret (id int, aggregate_type text, aggregate_id text,
								event_type text, payload jsonb);
SET LOCAL ROLE outbox_tap_declarer;
SELECT throws_ok($$SELECT outbox.declare_table('public.tap_secret')$$, '42501',
				 'permission denied to declare table public.tap_secret',
				 'a role that cannot read a table cannot declare it');
RESET ROLE;
GRANT SELECT ON public.tap_secret TO outbox_tap_declarer;
SET LOCAL ROLE outbox_tap_declarer;
SELECT lives_ok($$SELECT outbox.declare_table('public.tap_secret')$$,
				'one that can read it can');
RESET ROLE;

SELECT is((SELECT count(*) FROM outbox.events WHERE event_type IN ('published', 'inserted')),
		  2::bigint, 'the publisher''s rows are stored');

SELECT * FROM finish();
ROLLBACK;
