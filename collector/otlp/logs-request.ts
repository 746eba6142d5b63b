import { z } from 'zod';
import { enumValue, id, int64, jsonRecords, Scope, scalarsOf, WholeKeyValues, WholeValue, type AnyValue, type Attributes, type KeyValueList, type Placed } from './common.js';

/**
 * The in-memory form of an OTLP logs export, whichever encoding it came in: the shape checked, ids
 * as lowercase hex, times as BigInt, and the records flattened with their resource and scope.
 */

export interface LogRecord {
  /** Where the record sits in the request, for error messages: `resourceLogs[0].scopeLogs[1].logRecords[3]`. */
  path: string;
  /** 0 when unset (Codex sends 0). */
  timeNanos: bigint;
  observedNanos: bigint;
  severityNumber: number;
  severityText: string;
  /** The OTLP `eventName` field; many emitters leave it empty and name the event in an attribute. */
  eventName: string;
  /** null when absent. */
  body: AnyValue;
  /** Lowercase hex, '' when unset. */
  traceId: string;
  spanId: string;
  /** The scalar attributes, for usage mapping. */
  attributes: Attributes;
  resource: Attributes;
  scope: { name: string; version: string };
  /** Every attribute of the record and of its resource, arrays and maps included: what a record's hash covers. */
  whole: { attributes: KeyValueList; resource: KeyValueList };
}

const Record_ = z.object({
  timeUnixNano: int64.default(0n),
  observedTimeUnixNano: int64.default(0n),
  severityNumber: enumValue,
  severityText: z.string().default(''),
  body: WholeValue.optional(),
  attributes: WholeKeyValues,
  traceId: id(16, true).default(''),
  spanId: id(8, true).default(''),
  eventName: z.string().default(''),
});

/** The export around its records, whatever each record is read as. */
const logsExport = <R extends z.ZodType>(record: R) => z.object({
  resourceLogs: z
    .array(
      z.object({
        resource: z.object({ attributes: WholeKeyValues }).default({ attributes: new Map() }),
        scopeLogs: z.array(z.object({ scope: Scope, logRecords: z.array(record).default([]) })).default([]),
      }),
    )
    .default([]),
});

interface RecordContext {
  scope: { name: string; version: string };
  resource: Attributes;
  wholeResource: KeyValueList;
}

function placeRecords<R>({ resourceLogs }: z.output<ReturnType<typeof logsExport<z.ZodType<R>>>>): Placed<R, RecordContext>[] {
  return resourceLogs.flatMap((rl, r) => {
    const resource = scalarsOf(rl.resource.attributes);
    return rl.scopeLogs.flatMap((sl, s) =>
      sl.logRecords.map((record, i) => ({
        record, path: `resourceLogs[${r}].scopeLogs[${s}].logRecords[${i}]`, at: { scope: sl.scope, resource, wholeResource: rl.resource.attributes },
      })),
    );
  });
}

function logRecord({ record, path, at }: Placed<z.output<typeof Record_>, RecordContext>): LogRecord {
  return {
    path,
    timeNanos: record.timeUnixNano,
    observedNanos: record.observedTimeUnixNano,
    severityNumber: record.severityNumber,
    severityText: record.severityText,
    eventName: record.eventName,
    body: record.body ?? null,
    traceId: record.traceId,
    spanId: record.spanId,
    attributes: scalarsOf(record.attributes),
    resource: at.resource,
    scope: at.scope,
    whole: { attributes: record.attributes, resource: at.wholeResource },
  };
}

export const ExportLogsRequest = logsExport(Record_).transform((request) => placeRecords(request).map(logRecord));

/** `ExportLogsRequest` a record at a time: the same records, the same errors. */
export const logsJsonRecords = jsonRecords(logsExport(z.number()).transform(placeRecords<number>), () => Record_, logRecord);
