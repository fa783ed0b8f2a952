-- Everything that is not an outbox insert writes nothing.
SELECT 'init' FROM pg_create_logical_replication_slot('filter', 'outbox_pg');
CREATE TABLE business (id int PRIMARY KEY, note text);

-- Other tables, and transactions without events: not even BEGIN/COMMIT.
INSERT INTO business VALUES (1, 'a');
UPDATE business SET note = 'b';
BEGIN; COMMIT;
SELECT count(*) AS messages FROM changes('filter');

-- UPDATE, DELETE and TRUNCATE of outbox rows write nothing; the INSERT of
-- an event deleted in its own transaction is still shipped.
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, created_at)
VALUES ('00000000-0000-0000-0000-0000000000a1', 'o', '1', 'kept', '1', '2026-01-01Z');
SELECT count(*) AS messages FROM changes('filter');
UPDATE outbox.events SET payload = '2';
DELETE FROM outbox.events;
TRUNCATE outbox.events;
BEGIN;
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, created_at)
VALUES ('00000000-0000-0000-0000-0000000000a2', 'o', '1', 'deleted-at-once', '1', '2026-01-01Z');
DELETE FROM outbox.events WHERE id = '00000000-0000-0000-0000-0000000000a2';
INSERT INTO business VALUES (2, 'c');
COMMIT;
SELECT * FROM changes('filter');

-- Aborted transactions write nothing.
BEGIN;
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, created_at)
VALUES ('00000000-0000-0000-0000-0000000000a3', 'o', '1', 'aborted', '1', '2026-01-01Z');
ROLLBACK;
SELECT count(*) AS messages FROM changes('filter');

-- A rolled-back savepoint loses its events; a released one keeps them.
BEGIN;
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, created_at)
VALUES ('00000000-0000-0000-0000-0000000000b1', 'o', '1', 'before', '1', '2026-01-01Z');
SAVEPOINT s1;
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, created_at)
VALUES ('00000000-0000-0000-0000-0000000000b2', 'o', '1', 'rolled-back', '1', '2026-01-01Z');
ROLLBACK TO SAVEPOINT s1;
SAVEPOINT s2;
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, created_at)
VALUES ('00000000-0000-0000-0000-0000000000b3', 'o', '1', 'released', '1', '2026-01-01Z');
RELEASE SAVEPOINT s2;
COMMIT;
SELECT * FROM changes('filter');

-- Only a rolled-back savepoint had events: nothing at all.
BEGIN;
INSERT INTO business VALUES (3, 'd');
SAVEPOINT s1;
SELECT outbox.emit('o', '1', 'rolled-back', '1') IS NOT NULL AS emitted;
ROLLBACK TO SAVEPOINT s1;
COMMIT;
SELECT count(*) AS messages FROM changes('filter');

-- Prepared transactions ship at COMMIT PREPARED, never at PREPARE, and
-- not at all when rolled back.
BEGIN;
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, created_at)
VALUES ('00000000-0000-0000-0000-0000000000c1', 'o', '1', 'prepared', '1', '2026-01-01Z');
PREPARE TRANSACTION 'outbox_p1';
BEGIN;
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, created_at)
VALUES ('00000000-0000-0000-0000-0000000000c2', 'o', '1', 'prepared-rolled-back', '1', '2026-01-01Z');
PREPARE TRANSACTION 'outbox_p2';
SELECT count(*) AS messages FROM changes('filter');
COMMIT PREPARED 'outbox_p1';
ROLLBACK PREPARED 'outbox_p2';
SELECT * FROM changes('filter');

SELECT pg_drop_replication_slot('filter');
DROP TABLE business;
