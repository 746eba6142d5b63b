import type { SqlDialect } from './query-builder.js';

/** SQLite's time buckets: `day` is 'YYYY-MM-DD' text; raw buckets via strftime on epoch seconds. */
export const SQLITE_DIALECT: SqlDialect = {
  utcDay: (ts) => `strftime('%Y-%m-%d', ${ts} / 1000, 'unixepoch')`,
  // Weeks: step forward to Sunday, then back six days to its Monday.
  rollupBucket: {
    day: 'day',
    week: `date(day, 'weekday 0', '-6 days')`,
    month: 'substr(day, 1, 7)',
  },
  rawBucket: {
    hour: (local, suffix) => `strftime('%Y-%m-%dT%H:00:00', ${local}, 'unixepoch') || ${suffix}`,
    day: (local) => `strftime('%Y-%m-%d', ${local}, 'unixepoch')`,
    week: (local) => `strftime('%Y-%m-%d', ${local}, 'unixepoch', 'weekday 0', '-6 days')`,
    month: (local) => `strftime('%Y-%m', ${local}, 'unixepoch')`,
  },
};
