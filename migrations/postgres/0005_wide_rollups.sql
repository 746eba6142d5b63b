-- A rollup row's sums never overflow: a row (one UTC day × key) takes events for as long as clients
-- send them, so no cap per event can bound it, and a bigint overflow would fail the trigger, and
-- with it every event of the group commit. numeric adds exactly at any size. The triggers need no
-- change: their SUMs over bigint are numeric already.
ALTER TABLE usage_daily
  ALTER COLUMN input_tokens        TYPE numeric,
  ALTER COLUMN output_tokens       TYPE numeric,
  ALTER COLUMN cache_read_tokens   TYPE numeric,
  ALTER COLUMN cache_write_tokens  TYPE numeric,
  ALTER COLUMN reasoning_tokens    TYPE numeric,
  ALTER COLUMN cost_nanos          TYPE numeric,
  ALTER COLUMN reported_cost_nanos TYPE numeric;
