/** How much of a client's text an error message quotes. */
export const EXCERPT_LENGTH = 100;

/**
 * Client text as an error message quotes it: cut with an ellipsis, so that a 4 MB key or header
 * cannot make a 4 MB answer. The cut never splits a surrogate pair.
 */
export function excerpt(text: string, max = EXCERPT_LENGTH): string {
  if (text.length <= max) return text;
  const end = /[\ud800-\udbff]/.test(text[max - 1]!) ? max - 1 : max;
  return `${text.slice(0, end)}…`;
}
