import type { Attributes } from './common.js';
import { emitterOf, type EmitterProfile, type SpanEmitter } from './emitters.js';
import { firstPresent, SPAN_OR_RESOURCE_TABLE, tagsOf, toText, UNKNOWN_SERVICE, type Tags } from './mapping.js';

/**
 * What a log record's mapping takes from its resource and scope, the same for all their records:
 * worked out once for them rather than with ~8 Map lookups and a walk over the resource's keys a
 * record (docs/benchmarks.md, "OTLP log records' mapping, session 18").
 */
export interface Origin {
  emitter: EmitterProfile | SpanEmitter | undefined;
  /** SPAN_OR_RESOURCE_TABLE's rows, each with the resource's value as text and the attribute that gave it, if it has one. */
  fields: readonly { field: string; names: readonly string[]; resource: { text: string; name: string } | undefined }[];
  /** The agent of a record that names none: its resource's service.name. */
  service: string;
  tags: Tags;
}

function originOf(resource: Attributes, scope: { name: string }): Origin {
  const service = resource.get('service.name');
  return {
    emitter: emitterOf(resource, scope),
    fields: SPAN_OR_RESOURCE_TABLE.map(([field, names]) => {
      const found = firstPresent(resource, names);
      return { field, names, resource: found && { text: toText(found.value), name: found.name } };
    }),
    service: service === undefined ? UNKNOWN_SERVICE : toText(service),
    tags: tagsOf(resource),
  };
}

/**
 * The origin of each record of one request, kept from one record to the next: records come grouped
 * by resource and scope, and the emitter depends on the scope's name only. Made for each request,
 * so that no resource outlives its request.
 */
export class Origins {
  private resource: Attributes | undefined;
  private scope = '';
  private last: Origin | undefined;

  of(record: { resource: Attributes; scope: { name: string } }): Origin {
    if (this.last === undefined || record.resource !== this.resource || record.scope.name !== this.scope) {
      this.last = originOf(record.resource, record.scope);
      this.resource = record.resource;
      this.scope = record.scope.name;
    }
    return this.last;
  }
}
