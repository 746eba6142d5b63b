import { SPAN_FIELDS, TOKEN_ATTRIBUTES } from '../../collector/otlp/mapping.js';
import type { rng } from './random.js';

/**
 * Protobuf written field by field, so that a body can hold what no encoder writes but a client may
 * send: fields repeated, sent under another wire type, unknown, out of order, messages to merge,
 * several members of a oneof.
 */
type Field = [number, 'varint', bigint] | [number, 'fixed64', bigint] | [number, 'fixed32', number] | [number, 'bytes', Buffer | Field[]];

function varint(value: bigint): number[] {
  let v = BigInt.asUintN(64, value);
  const out: number[] = [];
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? low | 0x80 : low);
  } while (v > 0n);
  return out;
}

function encode(fields: readonly Field[]): Buffer {
  return Buffer.concat(fields.map(([number, kind, value]) => {
    if (kind === 'varint') return Buffer.from([...varint(BigInt(number << 3)), ...varint(value)]);
    if (kind === 'fixed64') {
      const bytes = Buffer.alloc(8);
      bytes.writeBigUInt64LE(BigInt.asUintN(64, value));
      return Buffer.concat([Buffer.from(varint(BigInt((number << 3) | 1))), bytes]);
    }
    if (kind === 'fixed32') {
      const bytes = Buffer.alloc(4);
      bytes.writeUInt32LE(value >>> 0);
      return Buffer.concat([Buffer.from(varint(BigInt((number << 3) | 5))), bytes]);
    }
    const payload = Buffer.isBuffer(value) ? value : encode(value);
    return Buffer.concat([Buffer.from(varint(BigInt((number << 3) | 2))), Buffer.from(varint(BigInt(payload.length))), payload]);
  }));
}

export type Random = ReturnType<typeof rng>;
const text = (s: string): Buffer => Buffer.from(s, 'utf8');

const KEYS = [
  ...Object.values(TOKEN_ATTRIBUTES).flat(), ...SPAN_FIELDS.model, ...SPAN_FIELDS.operation, ...SPAN_FIELDS.agent_id, 'tokentally.project',
  'tokentally.tag.team', 'service.name', 'gen_ai.response.id', 'event.name', 'event.kind', 'request_id', 'session.id', 'input_tokens', 'output_tokens',
  'model', 'code.file.path', 'é', '', 'gen_ai.system', 'ai.usage.cachedInputTokens', 'ai.response.providerMetadata', 'tokentally.tag.',
  'tokentally.tagx', 'gen_ai.usage.input_tokenz', 'gXn_ai.usage.input_tokens', 'llm.cost.total', 'server.address',
];
const TEXTS = ['chat', 'invoke_agent', 'AGENT', 'LLM', 'gpt-4o', 'planner', 'claude_code.api_request', 'api_request', 'response.completed', '', 'é✓', '12', '-3', '1e3'];
const INTS = [0n, 1n, 7n, 1200n, -5n, 2n ** 53n + 1n, -(2n ** 63n), 2n ** 64n - 1n];

/** An AnyValue's members, one or several (the last one sent counts), nested up to `depth`. */
function anyValue(r: Random, depth: number): Field[] {
  const members: Field[] = [];
  for (let m = r.int(0, 3) === 0 ? r.int(0, 3) : 1; m > 0; m--) {
    const kind = r.int(0, depth > 0 ? 8 : 5);
    if (kind === 0) members.push([1, 'bytes', text(r.pick(TEXTS))]);
    else if (kind === 1) members.push([2, 'varint', BigInt(r.int(0, 2))]);
    else if (kind === 2) members.push([3, 'varint', r.pick(INTS)]);
    else if (kind === 3) members.push([4, 'fixed64', r.pick([0x3ff8000000000000n, 0x7ff8000000000000n, 0x4093480000000000n])]);
    else if (kind === 4) members.push([7, 'bytes', Buffer.from([r.int(0, 255), r.int(0, 255)]).subarray(0, r.int(0, 2))]);
    else if (kind === 5) members.push([8, 'varint', BigInt(r.int(0, 3))]);
    else if (kind === 6) members.push([5, 'bytes', Array.from({ length: r.int(0, 3) }, (): Field => [1, 'bytes', anyValue(r, depth - 1)])]);
    else members.push([6, 'bytes', Array.from({ length: r.int(0, 3) }, (): Field => [1, 'bytes', keyValue(r, depth - 1)])]);
    // A member under the wrong wire type is skipped.
    if (r.int(0, 12) === 0) members.push([r.int(1, 8), 'fixed32', 7]);
  }
  return members;
}

function keyValue(r: Random, depth: number): Field[] {
  const fields: Field[] = [];
  const key = r.int(0, 30) === 0 ? '' : r.pick(KEYS);
  if (key !== '' || r.int(0, 1) === 0) fields.push([1, 'bytes', text(key)]);
  for (let v = r.int(0, 6) === 0 ? r.int(0, 2) : 1; v > 0; v--) fields.push([2, 'bytes', anyValue(r, depth)]);
  if (r.int(0, 6) === 0) fields.reverse();
  return fields;
}

const attributes = (r: Random, field: number, depth: number): Field[] =>
  Array.from({ length: r.int(0, 6) }, (): Field => [field, 'bytes', keyValue(r, depth)]);

/** An id of the right length mostly; sometimes absent, empty, or of another length. */
function id(r: Random, field: number, bytes: number): Field[] {
  const roll = r.int(0, 40);
  if (roll === 0) return [];
  const length = roll === 1 ? 0 : roll === 2 ? bytes - 1 : bytes;
  return [[field, 'bytes', Buffer.from(Array.from({ length }, () => r.int(0, 3)))]];
}

const SHARED_TRACE = Buffer.alloc(16, 0x5a);

function span(r: Random, n: number): Field[] {
  const fields: Field[] = [
    ...(r.int(0, 3) === 0 ? id(r, 1, 16) : [[1, 'bytes', SHARED_TRACE] as Field]),
    [2, 'bytes', Buffer.from([0, 0, 0, 0, 0, 0, r.int(0, 1), n])],
    ...(r.int(0, 1) === 0 ? [[4, 'bytes', Buffer.from([0, 0, 0, 0, 0, 0, 0, r.int(0, n)])] as Field] : id(r, 4, 8).slice(0, r.int(0, 1))),
    [5, 'bytes', text(r.pick(['chat gpt-4o', 'invoke_agent planner', 'ai.generateText.doGenerate', 'GET', '']))],
    [6, 'varint', BigInt(r.pick([0, 1, 3, -1]))],
    [7, 'fixed64', 1_793_700_000_000_000_000n + BigInt(r.int(0, 1e9))],
    [8, 'fixed64', r.int(0, 8) === 0 ? 0n : 1_793_700_001_000_000_000n + BigInt(r.int(0, 1e9))],
    ...attributes(r, 9, r.int(0, 3) === 0 ? 3 : 1),
    ...Array.from({ length: r.int(0, 2) }, (): Field => [15, 'bytes', [[2, 'bytes', text(r.pick(['m', 'é✓', '']))], [3, 'varint', BigInt(r.int(0, 2))]]]),
    // trace_state, flags, events (time, name, attributes, dropped count) and links (ids, trace_state, attributes, flags).
    ...(r.int(0, 3) === 0 ? [[3, 'bytes', text(r.pick(['rojo=00f067aa0ba902b7', '']))] as Field, [16, 'fixed32', 0x101] as Field] : []),
    ...Array.from({ length: r.int(0, 2) }, (): Field => [11, 'bytes', [
      [1, 'fixed64', 1_793_700_000_500_000_000n], [2, 'bytes', text(r.pick(['gen_ai.content.prompt', 'exception', '']))], ...attributes(r, 3, 2), [4, 'varint', 1n],
    ]]),
    ...Array.from({ length: r.int(0, 1) }, (): Field => [13, 'bytes', [
      [1, 'bytes', SHARED_TRACE], [2, 'bytes', Buffer.alloc(8, 7)], [3, 'bytes', text('k=v')], ...attributes(r, 4, 1), [6, 'fixed32', 1],
    ]]),
  ];
  // Repeats, wrong wire types and unknown fields, at random places.
  for (let extra = r.int(0, 3); extra > 0; extra--) {
    const at = r.int(0, fields.length);
    fields.splice(at, 0, r.pick<Field>([[r.int(1, 16), 'varint', 3n], [r.int(1, 16), 'fixed32', 1], [99, 'bytes', text('x')], ...(fields.length ? [r.pick(fields)] : [])]));
  }
  if (r.int(0, 4) === 0) fields.reverse();
  return fields;
}

/** A resource or scope message, or nothing, or the message sent twice (merged). */
function repeated(r: Random, field: number, make: () => Field[]): Field[] {
  return Array.from({ length: r.pick([0, 1, 1, 1, 2]) }, (): Field => [field, 'bytes', make()]);
}

const scopeFields = (r: Random): Field[] => [
  ...(r.int(0, 3) ? [[1, 'bytes', text(r.pick(['@traceloop/instrumentation-anthropic', 'gemini-cli', 'codex_otel.log_only', '']))] as Field] : []),
  ...(r.int(0, 1) ? [[2, 'bytes', text(r.pick(['0.1.0', '1.2.3']))] as Field] : []),
];
const resourceFields = (r: Random): Field[] => [
  ...(r.int(0, 1) ? [[1, 'bytes', [[1, 'bytes', text('service.name')], [2, 'bytes', [[1, 'bytes', text(r.pick(['planner', 'claude-code', 'codex_exec', 'copilot-chat']))]]]]] as Field] : []),
  ...attributes(r, 1, 1),
];

export function traceRequest(r: Random): Buffer {
  let n = 0;
  return encode(Array.from({ length: r.int(1, 2) }, (): Field => [1, 'bytes', [
    ...repeated(r, 1, () => resourceFields(r)),
    ...Array.from({ length: r.int(1, 2) }, (): Field => [2, 'bytes', [
      ...repeated(r, 1, () => scopeFields(r)),
      ...Array.from({ length: r.int(0, 6) }, (): Field => [2, 'bytes', span(r, n++)]),
    ]]),
  ]]));
}

function logRecord(r: Random): Field[] {
  const fields: Field[] = [
    [1, 'fixed64', r.int(0, 2) === 0 ? 0n : 1_793_700_000_000_000_000n + BigInt(r.int(0, 1e9))],
    [11, 'fixed64', 1_793_700_000_000_000_000n],
    [2, 'varint', BigInt(r.int(0, 17))],
    [3, 'bytes', text(r.pick(['INFO', '']))],
    ...repeated(r, 5, () => anyValue(r, 3)),
    ...attributes(r, 6, 3),
    ...id(r, 9, 16).slice(0, r.int(0, 1)),
    ...id(r, 10, 8).slice(0, r.int(0, 1)),
    [12, 'bytes', text(r.pick(['claude_code.api_request', 'gen_ai.client.inference.operation.details', '']))],
    [8, 'fixed32', 1],
  ];
  for (let extra = r.int(0, 3); extra > 0; extra--) fields.splice(r.int(0, fields.length), 0, r.pick(fields));
  if (r.int(0, 4) === 0) fields.reverse();
  return fields;
}

export function logsRequest(r: Random): Buffer {
  return encode(Array.from({ length: r.int(1, 2) }, (): Field => [1, 'bytes', [
    ...repeated(r, 1, () => resourceFields(r)),
    ...Array.from({ length: r.int(1, 2) }, (): Field => [2, 'bytes', [...repeated(r, 1, () => scopeFields(r)), ...Array.from({ length: r.int(0, 4) }, (): Field => [2, 'bytes', logRecord(r)])]]),
  ]]));
}
