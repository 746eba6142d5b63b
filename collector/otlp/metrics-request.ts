import { z } from 'zod';
import { double, enumValue, id, int64, KeyValues, Resource, Scope, type Attributes } from './common.js';

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

const points = <T extends z.ZodType>(point: T) => z.array(point).default([]);
const temporal = { aggregationTemporality: enumValue };

const Metric = z.object({
  name: z.string().default(''),
  description: z.string().default(''),
  unit: z.string().default(''),
  gauge: z.object({ dataPoints: points(NumberPoint) }).optional(),
  sum: z.object({ dataPoints: points(NumberPoint), ...temporal, isMonotonic: z.boolean().default(false) }).optional(),
  histogram: z.object({ dataPoints: points(HistogramPoint), ...temporal }).optional(),
  exponentialHistogram: z.object({ dataPoints: points(ExponentialHistogramPoint), ...temporal }).optional(),
  summary: z.object({ dataPoints: points(SummaryPoint) }).optional(),
});

const TYPES: readonly MetricType[] = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'];

export const ExportMetricsRequest = z
  .object({
    resourceMetrics: z
      .array(
        z.object({
          resource: Resource,
          scopeMetrics: z.array(z.object({ scope: Scope, metrics: z.array(Metric).default([]) })).default([]),
        }),
      )
      .default([]),
  })
  .transform(({ resourceMetrics }): MetricPoint[] =>
    resourceMetrics.flatMap((rm, r) =>
      rm.scopeMetrics.flatMap((sm, s) =>
        sm.metrics.flatMap((metric, m) =>
          // `data` is a oneof; a JSON body may set more than one member, and each is read.
          TYPES.flatMap((type) => {
            const data = metric[type];
            if (!data) return [];
            const temporality = 'aggregationTemporality' in data ? data.aggregationTemporality : 0;
            const isMonotonic = 'isMonotonic' in data ? data.isMonotonic : false;
            return data.dataPoints.map((point, p): MetricPoint => ({
              path: `resourceMetrics[${r}].scopeMetrics[${s}].metrics[${m}].${type}.dataPoints[${p}]`,
              name: metric.name,
              unit: metric.unit,
              type,
              temporality,
              isMonotonic,
              startNanos: point.startTimeUnixNano,
              timeNanos: point.timeUnixNano,
              value: point.value,
              count: point.count,
              attributes: point.attributes,
              resource: rm.resource.attributes,
              scope: sm.scope,
            }));
          }),
        ),
      ),
    ),
  );
