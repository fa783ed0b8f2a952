-- The shipper's role: LOGIN REPLICATION and nothing else.  Not in a
-- transaction: slots cannot be created in one that has written.
SELECT plan(15);

CREATE EXTENSION outbox_pg;
CREATE ROLE outbox_tap_shipper LOGIN REPLICATION;
GRANT pg_read_all_stats TO outbox_tap_shipper;

SET ROLE outbox_tap_shipper;
SELECT lives_ok($$SELECT pg_create_logical_replication_slot('tap_shipper', 'outbox_pg')$$,
				'a REPLICATION role creates an outbox_pg slot, outbox_pg being in output_plugin_libraries');
RESET ROLE;

SELECT outbox.publish('order', '1', 'created', '{"n": 1}') AS id \gset
SELECT outbox.emit('order', '1', 'emitted', '{"n": 2}') AS emitted_id \gset

SET ROLE outbox_tap_shipper;
SELECT is(
	(SELECT array_agg(data::jsonb->>'id') FROM pg_logical_slot_get_changes('tap_shipper', NULL, NULL)),
	ARRAY[:'id', :'emitted_id'],
	'the REPLICATION role reads events without any table privilege');
SELECT throws_ok($$SELECT * FROM outbox.events$$, '42501', NULL,
				 'while it cannot read the outbox table itself');
RESET ROLE;

-- outbox.slots shows the slot and how far behind it is.
SELECT outbox.publish('order', '1', 'pending', '{}') IS NOT NULL AS published;
SELECT is((SELECT array_agg(slot_name::text || ' active=' || active) FROM outbox.slots),
		  ARRAY['tap_shipper active=false'], 'outbox.slots lists outbox_pg slots');
SELECT cmp_ok((SELECT lag_bytes FROM outbox.slots), '>', 0::bigint,
			  'an unread event shows as lag');
SELECT cmp_ok((SELECT retained_wal_bytes FROM outbox.slots), '>=',
			  (SELECT lag_bytes FROM outbox.slots), 'retained WAL covers the lag');
SELECT is((SELECT pending_events FROM outbox.slots), 1::bigint,
		  'outbox.slots counts the event the slot has yet to deliver');
SELECT is((SELECT count(*) FROM pg_logical_slot_get_changes('tap_shipper', NULL, NULL)),
		  1::bigint, 'the pending event');
SELECT is((SELECT pending_events FROM outbox.slots), 0::bigint,
		  'once read and confirmed, nothing is pending');

-- Three transactions of two events; one emitted and deleted rows still count.
SELECT outbox.publish('order', i::text, 'p', '{}') FROM generate_series(1, 2) i;
SELECT outbox.publish('order', i::text, 'p', '{}') FROM generate_series(1, 2) i;
BEGIN;
SELECT outbox.emit('order', '1', 'e', '{}');
WITH d AS (INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type)
		   VALUES ('order', '1', 'deleted') RETURNING id)
DELETE FROM outbox.events WHERE id = (SELECT id FROM d);
COMMIT;
SELECT is(outbox.pending_events('tap_shipper'), 6::bigint,
		  'pending_events counts every event, emitted or deleted since');
SELECT is(outbox.pending_events('tap_shipper', 1), 1::bigint,
		  'the count stops at max_events');
SELECT throws_ok($$SELECT outbox.pending_events('no_such_slot')$$, '42704',
				 'replication slot "no_such_slot" does not exist or does not use outbox_pg',
				 'an unknown slot is named');
SELECT is((SELECT count(*) FROM pg_replication_slots WHERE temporary), 0::bigint,
		  'the temporary copies are gone');

-- Retention: outbox.purge() deletes old events in committed batches.
INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, created_at)
SELECT 'o', i::text, 'old', now() - interval '30 days' FROM generate_series(1, 25) i;
CALL outbox.purge(older_than => '7 days', batch_size => 10);
SELECT is((SELECT count(*) FROM outbox.events WHERE event_type = 'old'), 0::bigint,
		  'purge deletes every event older than older_than, 10 at a time');

-- Without outbox_pg in output_plugin_libraries, Debian's PostgreSQL refuses
-- the plugin to roles that are not superusers.  (A Debian setting: other
-- builds may not have it.)
SELECT current_setting('output_plugin_libraries', true) IS NOT NULL AS has_plugin_list \gset
\if :has_plugin_list
SET output_plugin_libraries = 'pgoutput, test_decoding';
SET ROLE outbox_tap_shipper;
SELECT throws_like($$SELECT pg_create_logical_replication_slot('tap_refused', 'outbox_pg')$$,
				   '%outbox_pg%', 'the plugin must be listed in output_plugin_libraries');
RESET ROLE;
RESET output_plugin_libraries;
-- (The refused slot's leftover goes away with this session.)
\else
SELECT skip('this server has no output_plugin_libraries setting', 1);
\endif

SELECT * FROM finish();

SELECT pg_drop_replication_slot('tap_shipper');
DROP EXTENSION outbox_pg;
DROP OWNED BY outbox_tap_shipper;
DROP ROLE outbox_tap_shipper;
