import type pg from 'pg';
import { telemetry } from '../telemetry.js';
import { statementTimedOut } from './unavailable.js';

/** Why a read went where it went (the `reason` label of tokentally_replica_reads_total). */
export type ReadRoute = 'fresh' | 'lagging' | 'unreachable' | 'failed';

/** How long one lag measurement is reused; its age counts against the allowed lag. */
const CHECK_EVERY_MS = 1_000;

const LAG_SQL = {
  primary: 'SELECT pg_current_wal_lsn()::text AS lsn',
  replica: `SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn()::text AS lsn,
    (EXTRACT(EPOCH FROM pg_last_xact_replay_timestamp()) * 1000)::float8 AS replayed_at`,
};

/** A WAL position `X/Y` (hex) as one number, to compare two of them. */
function lsn(text: string | null): bigint {
  if (!text) return -1n;
  const [high, low] = text.split('/');
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
}

/**
 * Reads of the reporting app go to a streaming replica (DATABASE_READ_URL) while it lags the
 * primary by at most `maxLagMs`, else to the primary. The lag is bounded from above: none when the
 * replica has replayed the primary's current WAL position, else the time since the last commit it
 * replayed (every commit it misses came later). That compares the two servers' clocks, which NTP
 * keeps close. A replica that cannot answer is skipped the same way, and a read failing there runs
 * again on the primary.
 */
export class ReplicaReads {
  private measured: Promise<{ at: number; lagMs: number | null }> | null = null;

  constructor(
    private readonly primary: pg.Pool,
    readonly replica: pg.Pool,
    private readonly maxLagMs: number,
  ) {}

  /** Runs `read` on the replica when it is fresh enough, else (or when it fails there) on the primary. */
  async run<T>(read: (pool: pg.Pool) => Promise<T>): Promise<T> {
    const route = await this.route();
    if (route !== 'fresh') {
      telemetry.recordReplicaRead('primary', route);
      return read(this.primary);
    }
    try {
      const result = await read(this.replica);
      telemetry.recordReplicaRead('replica', route);
      return result;
    } catch (error) {
      // A statement the replica ran past DATABASE_QUERY_TIMEOUT_MS would on the primary too.
      if (statementTimedOut(error)) throw error;
      telemetry.recordReplicaRead('primary', 'failed');
      return read(this.primary);
    }
  }

  private async route(): Promise<ReadRoute> {
    let check = this.measured;
    if (!check || Date.now() - (await check).at > CHECK_EVERY_MS) check = this.measured = this.measure();
    const { at, lagMs } = await check;
    if (lagMs === null) return 'unreachable';
    return lagMs + (Date.now() - at) <= this.maxLagMs ? 'fresh' : 'lagging';
  }

  private async measure(): Promise<{ at: number; lagMs: number | null }> {
    const at = Date.now();
    try {
      const [primary, replica] = await Promise.all([
        this.primary.query<{ lsn: string }>(LAG_SQL.primary),
        this.replica.query<{ standby: boolean; lsn: string | null; replayed_at: number | null }>(LAG_SQL.replica),
      ]);
      const p = primary.rows[0]!;
      const r = replica.rows[0]!;
      // A server out of recovery (promoted, or not a replica at all) no longer follows this primary.
      if (!r.standby) return { at, lagMs: null };
      const lagMs = lsn(r.lsn) >= lsn(p.lsn) ? 0 : r.replayed_at === null ? Infinity : Math.max(0, at - Number(r.replayed_at));
      telemetry.setReplicaLag(lagMs);
      return { at, lagMs };
    } catch {
      return { at, lagMs: null };
    }
  }
}
