-- A sum of BIGINTs as a BIGINT, for reports (src/store/sums.ts, "narrow"): SUM(bigint) and
-- SUM(numeric) keep a numeric state per group and make a numeric result of it, which for a report
-- of 1,246 groups of nine sums (30 days by agent × day) cost 25 ms of executor CPU against 11 ms
-- for this one over the same columns cast to BIGINT (docs/benchmarks.md, "PostgreSQL, session 10").
-- int8pl raises "bigint out of range" (22003) where a sum would overflow, as the cast does for a
-- stored sum past 2^63 - 1: the store then reads the report again with SUM, exact at any size.
-- Creating an aggregate takes no lock on any table.
CREATE AGGREGATE narrow_sum(BIGINT) (SFUNC = int8pl, STYPE = BIGINT, COMBINEFUNC = int8pl, PARALLEL = SAFE);
