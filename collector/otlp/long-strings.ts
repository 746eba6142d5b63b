/**
 * OTLP strings over a maximum length are never decoded: both scans (scan.ts, ../json.ts) note
 * where each one lies, and the readers take a short placeholder in its place. Making a JS string
 * of 49 MiB, then hashing it, held the event loop for half a second; no usage field needs more.
 * A record carrying no usage is ignored as always; a usage record with such a string in it (or in
 * its resource or scope) is rejected on its own, in the export's partialSuccess.
 */

/** UTF-8 bytes in one OTLP string value, attribute key or name. */
export const MAX_OTLP_STRING_BYTES = 1024 * 1024;

/**
 * What a string over the maximum is read as: short, never empty (an empty key is an error of its
 * own), and with a NUL, which no stored text may hold (src/event/schema.ts): an event that takes it
 * from another record (a parent span's agent name, a metric's stream) is invalid, never stored with it.
 */
export const LONG_STRING = '\u0000\u2026';

/** What a rejected record's message says of the string. */
export const TOO_LONG = `a string of more than ${MAX_OTLP_STRING_BYTES.toLocaleString('en-US')} bytes`;

/** The strings over the maximum in one export, by their paths (`resourceLogs[0].scopeLogs[0].logRecords[3].body.stringValue`). */
export class LongStrings {
  readonly paths: string[] = [];

  /**
   * The first long string a record at `recordPath` (`resourceLogs[0].scopeLogs[1].logRecords[3]`)
   * is made from: within it, or within its resource or scope, which its event reads too.
   */
  within(recordPath: string): string | undefined {
    if (this.paths.length === 0) return undefined;
    const resourceEnd = recordPath.indexOf('.');
    const scopeEnd = recordPath.indexOf('.', resourceEnd + 1);
    const own = `${recordPath}.`;
    const resource = `${recordPath.slice(0, resourceEnd)}.resource.`;
    const scope = `${recordPath.slice(0, scopeEnd)}.scope.`;
    for (const path of this.paths) {
      const named = camelCase(path);
      if (named.startsWith(own) || named.startsWith(resource) || named.startsWith(scope)) return named;
    }
    return undefined;
  }
}

/** OTLP/JSON takes the proto's snake_case field names too. */
const camelCase = (path: string) => path.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
