-- ALTER TABLE on an outbox table while its events wait in the slot: each
-- row is decoded with the table as it was when the row was written.
SELECT 'init' FROM pg_create_logical_replication_slot('alter', 'outbox_pg');
CREATE TABLE evolving (id int PRIMARY KEY, aggregate_type text, aggregate_id text,
	event_type text, payload jsonb, created_at timestamptz);
SELECT outbox.declare_table('evolving');

INSERT INTO evolving VALUES (1, 'e', '1', 'original', '{"v": 1}', '2026-01-01Z');
ALTER TABLE evolving ADD COLUMN extra text DEFAULT 'x';
INSERT INTO evolving VALUES (2, 'e', '1', 'column-added', '{"v": 2}', '2026-01-01Z', 'y');
ALTER TABLE evolving ALTER COLUMN payload TYPE text;
INSERT INTO evolving VALUES (3, 'e', '1', 'payload-now-text', '{"v": 3}', '2026-01-01Z');
ALTER TABLE evolving DROP COLUMN extra;
INSERT INTO evolving VALUES (4, 'e', '1', 'column-dropped', '{"v": 4}', '2026-01-01Z');
-- Renaming a mapped column leaves its field null (with a warning per
-- table, not per row) until the table is declared again.
ALTER TABLE evolving RENAME COLUMN event_type TO kind;
INSERT INTO evolving VALUES (5, 'e', '1', 'renamed', '{"v": 5}', '2026-01-01Z');
INSERT INTO evolving VALUES (6, 'e', '1', 'renamed-again', '{"v": 6}', '2026-01-01Z');
SELECT outbox.declare_table('evolving', event_type_column => 'kind');
INSERT INTO evolving VALUES (7, 'e', '1', 'redeclared', '{"v": 7}', '2026-01-01Z');
SELECT * FROM changes('alter');

-- The same, read while the changes happen.
INSERT INTO evolving VALUES (8, 'e', '1', 'before', '{"v": 8}', '2026-01-01Z');
SELECT * FROM changes('alter');
ALTER TABLE evolving ALTER COLUMN payload TYPE jsonb USING payload::jsonb;
INSERT INTO evolving VALUES (9, 'e', '1', 'after', '{"v":   9}', '2026-01-01Z');
SELECT * FROM changes('alter');

SELECT pg_drop_replication_slot('alter');
DROP TABLE evolving;
