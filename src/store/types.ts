import type { InsertRetry } from './retry.js';
import type { UsageRecord } from '../event/schema.js';
import type { ZoneSegment } from '../zone-offset.js';
import type { BudgetStore } from '../budgets/store.js';

/** Dimensions a report can group and filter by, as named in the API. */
export const DIMENSIONS = [
  'project', 'agent', 'model', 'provider', 'task', 'run', 'operation', 'status', 'session', 'user', 'cost_source',
] as const;
export type Dimension = (typeof DIMENSIONS)[number];

export const TIME_BUCKETS = ['hour', 'day', 'week', 'month'] as const;
export type TimeBucket = (typeof TIME_BUCKETS)[number];
export type GroupKey = Dimension | TimeBucket;

/** What `usage_daily` is keyed by: questions within these can be answered from the rollup. */
export const ROLLUP_DIMENSIONS: ReadonlySet<Dimension> = new Set(['project', 'agent', 'model', 'provider', 'task']);
export const ROLLUP_BUCKETS: ReadonlySet<TimeBucket> = new Set(['day', 'week', 'month']);

export type Filters = Partial<Record<Dimension, string[]>>;

export interface Metrics {
  events: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens: number;
  cost_nanos: number;
  reported_cost_nanos: number;
  unpriced_events: number;
}
/**
 * Metrics as a report reads them: where a sum passed 2^53 − 1 its number is the nearest double and
 * `exact` holds it exactly (docs/operations.md, "Sums"); absent when every sum is a safe integer.
 */
export interface ExactMetrics extends Metrics {
  exact?: Partial<Record<keyof Metrics, bigint>>;
}
export const METRIC_NAMES = [
  'events', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens', 'reasoning_tokens',
  'cost_nanos', 'reported_cost_nanos', 'unpriced_events',
] as const satisfies readonly (keyof Metrics)[];

/**
 * Order metrics that are no stored column: the first metric plus (sign 1) or minus (sign −1) the
 * second. total_tokens is input + output; computed cost is cost − reported cost.
 */
export const DERIVED_ORDER = {
  total_tokens: ['input_tokens', 'output_tokens', 1],
  computed_cost_nanos: ['cost_nanos', 'reported_cost_nanos', -1],
} as const satisfies Record<string, readonly [keyof Metrics, keyof Metrics, 1 | -1]>;

export type DerivedOrder = keyof typeof DERIVED_ORDER;

/** What a report can order its groups by. */
export type OrderBy = keyof Metrics | DerivedOrder;

export const isDerivedOrder = (by: OrderBy): by is DerivedOrder => Object.hasOwn(DERIVED_ORDER, by);

export type Source = 'rollup' | 'raw';

export interface AggregateQuery {
  source: Source;
  /**
   * Where the totals come from when the rollup gives the same numbers as the groups' raw source
   * (groups by run, totals by whole UTC days); absent means `source`.
   */
  totalsSource?: Source;
  groupBy: GroupKey[];
  filters: Filters;
  /**
   * Only the rows whose values of `dimensions` are one of `values` (each in the order of
   * `dimensions`): a report's top groups by several dimensions, which filters per dimension would
   * also pass every other combination of. `filters` must hold each dimension's values too: the
   * planner chooses the source (and PostgreSQL the summary) from `groupBy` and `filters` only.
   */
  tuples?: { dimensions: Dimension[]; values: string[][] };
  /** Epoch ms, inclusive / exclusive. For the rollup both are UTC midnights. */
  from: number;
  to: number;
  order: { by: OrderBy; dir: 'asc' | 'desc' } | null;
  /** At most this many groups; the answer says whether more exist. */
  limit: number | null;
  /**
   * Only the groups after this one in `order`: its metric value, then its key (the one dimension
   * grouped by, ascending). Pages through a ranked list without re-reading the groups before it.
   * The value is exact: a sum can pass 2^53.
   */
  after?: { value: bigint; key: string };
  /** UTC offsets over the range for local time buckets (raw only); absent means UTC. */
  zone?: ZoneSegment[];
  /**
   * Only the groups of the runs from `from` (inclusive) to `below` (exclusive), in run_id's BINARY
   * order (raw only): one of the two halves of a report by run, read on each SQLite read thread
   * (split-report.ts). The totals are the whole report's.
   */
  runs?: { from?: string; below?: string };
}

export interface AggregateGroup {
  key: Partial<Record<GroupKey, string>>;
  metrics: ExactMetrics;
}

export interface AggregateResult {
  totals: ExactMetrics;
  groups: AggregateGroup[];
  more: boolean;
}

export interface EventCursor {
  ts: number;
  seq: number;
}

export interface EventsQuery {
  filters: Filters;
  from: number | null;
  to: number | null;
  limit: number;
  after: EventCursor | null;
}

/**
 * An event's identity: its id within its project. One string, for sets of them; NUL separates the
 * two, as no stored text contains it.
 */
export function eventKey(project: string, id: string): string {
  return `${project}\u0000${id}`;
}

export interface StoredEvent extends UsageRecord {
  seq: number;
}

export interface EventsPage {
  events: StoredEvent[];
  next: EventCursor | null;
}

export interface RepriceQuery {
  from: number;
  to: number;
  /** Only these models (exact names), or all. */
  models: string[] | null;
}

export interface RepriceResult {
  examined: number;
  changed: number;
}

/** A project as stored; `pin_order` is null exactly when it is not pinned. */
export interface Project {
  id: string;
  name: string;
  description: string;
  archived: boolean;
  pinned: boolean;
  pin_order: number | null;
  created_at: string;
  updated_at: string;
}

/** Fields a user may set; absent ones keep their value (or their default for a new project). */
export interface ProjectChanges {
  name?: string;
  description?: string;
  archived?: boolean;
}

export interface ProjectsQuery {
  includeArchived: boolean;
  /** Only these ids (a scoped key's projects), or all. */
  ids: string[] | null;
  /** Only projects whose id or name contains this, ignoring case. */
  search?: string;
  /** Only projects after this one in the list's order (pinned by pin order, then by name and id). */
  after?: ProjectCursor;
  /** At most this many. */
  limit?: number;
}

/** A place in the project list: a pinned project's pin order, or an unpinned one's name and id. */
export type ProjectCursor = { pinOrder: number } | { name: string; id: string };

/** Why a new pin order was refused: pinned ids it lacks, and ids in it that are not pinned. */
export interface PinOrderMismatch {
  missing: string[];
  unexpected: string[];
}

/** An accepted OTLP request's body, kept in the forward outbox until the upstream has it (docs/forwarding.md). */
export interface OutboxEntry {
  signal: 'traces' | 'logs' | 'metrics';
  encoding: 'json' | 'protobuf';
  body: Uint8Array;
}

export interface OutboxRow extends OutboxEntry {
  seq: number;
  /** Epoch ms of its commit. */
  createdAt: number;
}

/** How much of the oldest outbox rows of one signal a delivery takes at most (always at least one row). */
export interface OutboxTake {
  maxEntries: number;
  maxBytes: number;
}

export interface OutboxSize {
  entries: number;
  bytes: number;
  /** Epoch ms of the oldest entry's commit; null when the outbox is empty. */
  oldest: number | null;
}

export interface VerifyResult {
  ok: boolean;
  mismatches: number;
  integrity: string;
}

/**
 * Where a cumulative metric stream counted by COUNT_METRICS stands: its last counted point. Times are
 * Unix nanoseconds as decimal text (beyond 2^53, so never a float).
 */
export interface MetricStreamPoint {
  start: string;
  time: string;
  value: number;
}

/** A stream's committed point, and when it was last moved (epoch ms): streams left alone long enough are pruned. */
export interface CommittedStreamPoint extends MetricStreamPoint {
  moved_at: number;
}

/**
 * Moves a stream from `previous` (null: never counted) to a new point. Committed with the events the
 * move counted, so both or neither are stored; the batch fails (error code METRIC_STREAM_MOVED) when
 * the stream is no longer at `previous`, as another collector counted it meanwhile.
 */
export interface MetricStreamUpdate extends MetricStreamPoint {
  stream: string;
  previous: { start: string; time: string } | null;
}

/** What commits with a batch's events, in the same transaction. */
export interface BatchExtras {
  metricStreams?: MetricStreamUpdate[];
  /** Accepted OTLP requests' forward copies. */
  outbox?: OutboxEntry[];
}

/** A batch handed over in parts, as it is prepared (Store.insertInParts, BatchWriter.submitInParts). */
export interface InsertParts {
  add(records: readonly UsageRecord[]): void;
  /** The last part: resolves, once every part is committed, as insertBatch does. */
  end(records: readonly UsageRecord[]): Promise<boolean[]>;
  /** The rest will not come: nothing of the batch is stored. */
  abort(): void;
}

/**
 * Everything the apps need from a database. Async so a networked backend fits behind it;
 * collector/ and reporting/ never know which backend runs.
 */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  migrate(): Promise<string[]>;
  /** The migrations this version has that the database lacks (all of them for an empty one). */
  pendingMigrations(): Promise<string[]>;
  /**
   * How many insertBatch calls may be outstanding at once with their commits still in call order,
   * so that of two events sharing a project and id the one handed over first is stored.
   */
  readonly insertsInFlight: number;
  /**
   * One transaction for the whole batch; `true` where the row was new, `false` where its project
   * already holds its id (ids are unique per project, so another project's ids never count).
   * A failing database is retried as `retry` says (not at all by default).
   */
  insertBatch(records: readonly UsageRecord[], retry?: InsertRetry, extras?: BatchExtras): Promise<boolean[]>;
  /**
   * insertBatch for a batch whose records come in parts, as the caller prepares them: one
   * transaction still, its first rows inserted while the rest are on their way. Absent where a
   * backend gains nothing from it (it would only collect the parts); undefined where this store
   * cannot (SQLite on the calling thread): the batch is then inserted whole.
   */
  insertInParts?(retry: InsertRetry): InsertParts | undefined;
  /**
   * Hands the signal's oldest outbox rows to `deliver` and deletes the leading rows it resolves it is
   * done with (all, some, or none); the others stay for a later attempt, all of them when it throws. Resolves with how many rows were
   * handed over (0: none waiting), or null when another collector is delivering this signal: on
   * PostgreSQL one collector at a time holds each signal, so every row goes out once and in order.
   */
  forwardOutbox(signal: OutboxEntry['signal'], take: OutboxTake, deliver: (rows: OutboxRow[]) => Promise<number>): Promise<number | null>;
  /** Deletes the oldest outbox rows (any signal) until the outbox holds at most `maxBytes`; returns what it deleted. */
  trimOutbox(maxBytes: number): Promise<{ entries: number; bytes: number }>;
  outboxSize(): Promise<OutboxSize>;
  /** The committed points of these metric streams; a stream never counted is absent. */
  readMetricStreams(streams: readonly string[]): Promise<Map<string, CommittedStreamPoint>>;
  /**
   * Looks at the next `maxRows` metric streams after the stream `after` in stream order (reading no
   * more rows than that) and deletes those last moved before `before` (epoch ms); returns how many
   * went and the last stream looked at (null: fewer than `maxRows` were left, so none is).
   */
  pruneMetricStreams(before: number, after: string, maxRows: number): Promise<{ deleted: number; last: string | null }>;
  aggregate(query: AggregateQuery): Promise<AggregateResult>;
  listEvents(query: EventsQuery): Promise<EventsPage>;
  /**
   * Recomputes the cost of every event in the range that was not reported by its client:
   * `price` fills in a record reset to unpriced. Reported costs are never touched.
   */
  reprice(query: RepriceQuery, price: (record: UsageRecord) => void): Promise<RepriceResult>;
  /** Raw events before this epoch ms (a UTC midnight) were deleted by retention; null when none were. */
  rawHorizon(): Promise<number | null>;
  /**
   * Raises the raw horizon to `before` (a UTC midnight; it never moves back), then deletes at most
   * `maxRows` raw events older than it, leaving the rollups alone. Returns how many were deleted.
   * PostgreSQL moves the horizon to the start of its month and detaches whole months first, then
   * counts the events gone as it deletes their ids (and drops each month after its last), `maxRows` at a time.
   */
  pruneRaw(before: number, maxRows: number): Promise<number>;
  /** A consistent copy of the database, taken while it keeps serving; rejects, saying what to use, where the backend has its own tools. */
  backup(file: string): Promise<void>;
  /** Pinned first by pin order, then the rest by name ignoring case, then id. */
  listProjects(query: ProjectsQuery): Promise<Project[]>;
  getProject(id: string): Promise<Project | null>;
  /** Creates the project or updates it, in one statement; archiving it also unpins it. */
  saveProject(id: string, changes: ProjectChanges): Promise<{ project: Project; created: boolean }>;
  /** Pins at the end of the order (a pinned project keeps its place) or unpins; null for an unknown id. */
  setPinned(id: string, pinned: boolean): Promise<Project | null>;
  /** Gives the pinned projects the order of `ids`, in one transaction; unchanged unless `ids` is exactly the pinned set. */
  reorderPins(ids: readonly string[]): Promise<PinOrderMismatch | null>;
  ping(): Promise<void>;
  /**
   * Commits a one-row write of its own (table write_probe), failing as an insert would on a
   * locked, full or read-only database. SQLite does not wait for another writer's lock here.
   */
  probeWrite(): Promise<void>;
  /** Budgets, their crossings and their notification outbox (docs/budgets.md). */
  readonly budgets: BudgetStore;
  /** Rollup = raw sums from the raw horizon on, and the database's own integrity check. */
  verify(): Promise<VerifyResult>;
  /** Recomputes the rollups from the raw events, from the raw horizon on (older rollups are all that is left). */
  rebuildRollups(): Promise<void>;
  close(): Promise<void>;
}
