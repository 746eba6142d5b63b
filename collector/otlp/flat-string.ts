/**
 * A string made by concatenation, flattened. V8 keeps `a + b` as a tree (a cons string) until
 * something reads its characters, and compares such a string with another (`===`, `includes`, a Map
 * key's match) in its runtime: ~100 ns against ~10 ns for flat strings, measured. A string that is
 * compared many times (a span memory key, against every call remembered under it) is flattened once,
 * which reading one of its characters does in place (docs/benchmarks.md, "OTLP spans main thread,
 * session 14").
 */
export function flat(text: string): string {
  read.character = text.charCodeAt(0);
  return text;
}

/** Where `flat` keeps the character it read: a read whose result went unused, the compiler would leave out. */
const read = { character: 0 };
