/**
 * The usage the fake model server answers with, per model API and per kind of answer, in
 * tokentally's terms (SPEC): `input` counts every input token, cache reads and writes included;
 * `output` counts every output token, reasoning included. Each API's wire form is derived from
 * these in `fake-model.ts`, so a test asserting totals and the server answering agree by construction.
 */

export type ModelApi = 'anthropic' | 'openai-responses' | 'gemini';

/**
 * `tool_call`: the first answer of the scenario, asking the agent to run a tool.
 * `final`: the answer after the tool result came back.
 * `side`: any other call the agent makes on its own (titles, routing, quota checks).
 */
export type CallKind = 'tool_call' | 'final' | 'side';

export interface Usage {
  input: number;
  cacheRead: number;
  cacheWrite: number;
  output: number;
  /** Part of `output`; undefined where the API does not report it separately (Anthropic). */
  reasoning: number | undefined;
}

/** Distinct figures per kind, so a record in a capture names its call by its numbers alone. */
const BY_KIND: Record<CallKind, Usage> = {
  tool_call: { input: 3630, cacheRead: 2200, cacheWrite: 330, output: 56, reasoning: 12 },
  final: { input: 4170, cacheRead: 2600, cacheWrite: 70, output: 86, reasoning: 20 },
  side: { input: 250, cacheRead: 0, cacheWrite: 0, output: 9, reasoning: 0 },
};

/** What `api` reports for a call of `kind`: Anthropic has no separate reasoning count, Gemini no cache writes. */
export function usageFor(api: ModelApi, kind: CallKind): Usage {
  const usage = BY_KIND[kind];
  if (api === 'anthropic') return { ...usage, reasoning: undefined };
  if (api === 'gemini') return { ...usage, input: usage.input - usage.cacheWrite, cacheWrite: 0 };
  return { ...usage };
}

export function sumUsage(usages: Usage[]): Usage {
  const total: Usage = { input: 0, cacheRead: 0, cacheWrite: 0, output: 0, reasoning: undefined };
  for (const u of usages) {
    total.input += u.input;
    total.cacheRead += u.cacheRead;
    total.cacheWrite += u.cacheWrite;
    total.output += u.output;
    if (u.reasoning !== undefined) total.reasoning = (total.reasoning ?? 0) + u.reasoning;
  }
  return total;
}
