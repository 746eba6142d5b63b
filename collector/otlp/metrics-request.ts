import { z } from 'zod';
import { double, enumValue, id, int64, jsonRecords, KeyValues, Resource, Scope, type Attributes, type Placed } from './common.js';

/**
 * The in-memory form of an OTLP metrics export, whichever encoding it came in: every data point
 * checked for shape, then flattened with its metric, scope and resource. Only the token metrics of
 * the services COUNT_METRICS names are counted (metric-points.ts); the rest repeat per-call records.
 */

export type MetricType = 'gauge' | 'sum' | 'histogram' | 'exponentialHistogram' | 'summary';

export interface MetricPoint {
  /** `resourceMetrics[0].scopeMetrics[0].metrics[2].sum.dataPoints[1]` */
  path: string;
  name: string;
  unit: string;
  type: MetricType;
  /** 0 unspecified, 1 delta, 2 cumulative (gauges and summaries: 0). */
  temporality: number;
  isMonotonic: boolean;
  startNanos: bigint;
  timeNanos: bigint;
  /** Gauge and sum points: the value. Histograms and summaries: their sum, when sent. */
  value: bigint | number | undefined;
  /** Histograms and summaries: how many measurements. */
  count: bigint | undefined;
  attributes: Attributes;
  resource: Attributes;
  scope: { name: string; version: string };
}

const times = {
  attributes: KeyValues,
  startTimeUnixNano: int64.default(0n),
  timeUnixNano: int64.default(0n),
  flags: z.number().int().default(0),
};

const Exemplar = z.object({
  filteredAttributes: KeyValues,
  timeUnixNano: int64.default(0n),
  asDouble: double.optional(),
  asInt: int64.optional(),
  spanId: id(8, true).default(''),
  traceId: id(16, true).default(''),
});
const exemplars = z.array(Exemplar).default([]);

const NumberPoint = z
  .object({ ...times, asDouble: double.optional(), asInt: int64.optional(), exemplars })
  .transform((p) => ({ ...p, value: p.asInt ?? p.asDouble, count: undefined }));

const HistogramPoint = z
  .object({
    ...times, count: int64.default(0n), sum: double.optional(), bucketCounts: z.array(int64).default([]),
    explicitBounds: z.array(double).default([]), exemplars, min: double.optional(), max: double.optional(),
  })
  .transform((p) => ({ ...p, value: p.sum }));

const Buckets = z.object({ offset: z.number().int().default(0), bucketCounts: z.array(int64).default([]) }).optional();

const ExponentialHistogramPoint = z
  .object({
    ...times, count: int64.default(0n), sum: double.optional(), scale: z.number().int().default(0), zeroCount: int64.default(0n),
    positive: Buckets, negative: Buckets, exemplars, min: double.optional(), max: double.optional(), zeroThreshold: double.default(0),
  })
  .transform((p) => ({ ...p, value: p.sum }));

const SummaryPoint = z
  .object({ ...times, count: int64.default(0n), sum: double.default(0), quantileValues: z.array(z.object({ quantile: double.default(0), value: double.default(0) })).default([]) })
  .transform((p) => ({ ...p, value: p.sum }));

/** What a metric point of any type becomes. */
interface PointFields {
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  value: bigint | number | undefined;
  count: bigint | undefined;
  attributes: Attributes;
}

const POINTS: Record<MetricType, z.ZodType<PointFields>> = {
  gauge: NumberPoint, sum: NumberPoint, histogram: HistogramPoint, exponentialHistogram: ExponentialHistogramPoint, summary: SummaryPoint,
};

const temporal = { aggregationTemporality: enumValue };

/** The export around its data points, whatever each point is read as. */
const metricsExport = <G extends z.ZodType, H extends z.ZodType, E extends z.ZodType, S extends z.ZodType>(gauge: G, histogram: H, exponential: E, summary: S) => {
  const Metric = z.object({
    name: z.string().default(''),
    description: z.string().default(''),
    unit: z.string().default(''),
    gauge: z.object({ dataPoints: z.array(gauge).default([]) }).optional(),
    sum: z.object({ dataPoints: z.array(gauge).default([]), ...temporal, isMonotonic: z.boolean().default(false) }).optional(),
    histogram: z.object({ dataPoints: z.array(histogram).default([]), ...temporal }).optional(),
    exponentialHistogram: z.object({ dataPoints: z.array(exponential).default([]), ...temporal }).optional(),
    summary: z.object({ dataPoints: z.array(summary).default([]) }).optional(),
  });
  return z.object({
    resourceMetrics: z
      .array(
        z.object({
          resource: Resource,
          scopeMetrics: z.array(z.object({ scope: Scope, metrics: z.array(Metric).default([]) })).default([]),
        }),
      )
      .default([]),
  });
};

/** A metric's data of one type, as placePoints reads it. */
interface MetricData<P> {
  dataPoints: P[];
  aggregationTemporality?: number;
  isMonotonic?: boolean;
}

interface MetricsLayout<P> {
  resourceMetrics: {
    resource: { attributes: Attributes };
    scopeMetrics: { scope: { name: string; version: string }; metrics: ({ name: string; unit: string } & { [T in MetricType]?: MetricData<P> })[] }[];
  }[];
}

type PointContext = Omit<MetricPoint, 'path' | 'startNanos' | 'timeNanos' | 'value' | 'count' | 'attributes'>;

const TYPES: readonly MetricType[] = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'];

function placePoints<P>({ resourceMetrics }: MetricsLayout<P>): Placed<P, PointContext>[] {
  return resourceMetrics.flatMap((rm, r) =>
    rm.scopeMetrics.flatMap((sm, s) =>
      sm.metrics.flatMap((metric, m) =>
        // `data` is a oneof; a JSON body may set more than one member, and each is read.
        TYPES.flatMap((type) => {
          const data = metric[type];
          if (!data) return [];
          const at: PointContext = {
            name: metric.name, unit: metric.unit, type, temporality: data.aggregationTemporality ?? 0, isMonotonic: data.isMonotonic ?? false,
            resource: rm.resource.attributes, scope: sm.scope,
          };
          return data.dataPoints.map((point, p) => ({ record: point, path: `resourceMetrics[${r}].scopeMetrics[${s}].metrics[${m}].${type}.dataPoints[${p}]`, at }));
        }),
      ),
    ),
  );
}

function metricPoint({ record: point, path, at }: Placed<PointFields, PointContext>): MetricPoint {
  return {
    path,
    name: at.name,
    unit: at.unit,
    type: at.type,
    temporality: at.temporality,
    isMonotonic: at.isMonotonic,
    startNanos: point.startTimeUnixNano,
    timeNanos: point.timeUnixNano,
    value: point.value,
    count: point.count,
    attributes: point.attributes,
    resource: at.resource,
    scope: at.scope,
  };
}

export const ExportMetricsRequest = metricsExport(NumberPoint, HistogramPoint, ExponentialHistogramPoint, SummaryPoint)
  .transform((request) => placePoints<PointFields>(request).map(metricPoint));

/** `ExportMetricsRequest` a data point at a time: the same points, the same errors. */
export const metricsJsonRecords = jsonRecords(
  metricsExport(z.number(), z.number(), z.number(), z.number()).transform(placePoints<number>),
  (at) => POINTS[at.type],
  metricPoint,
);
