/** A `scheme://` at the start, as every URL-valued setting has (after stray spaces from an `.env` file). */
const SCHEME = /^\s*[a-z][a-z0-9+.-]*:\/\//i;
/** A query parameter whose name says it holds a secret (libpq's `password`, `sslpassword`; tokens, keys). */
const SECRET_PARAMETER = /([?&][^=&#]*(?:pass|secret|token|key)[^=&#]*=)[^&#]*/gi;

/**
 * A URL as a message or a log line may show it: the user name kept, the password and any
 * parameter that names a secret left out. The last `@` ends what may be a password, so one written
 * without percent-encoding (`u:12#x@host`) goes too. Text that is not a URL (a file path) is
 * returned as it is.
 */
export function shownUrl(text: string): string {
  const scheme = SCHEME.exec(text);
  if (!scheme) return text;
  let rest = text.slice(scheme[0].length);
  const at = rest.lastIndexOf('@');
  if (at >= 0) rest = `${rest.slice(0, at).split(':')[0]}@${rest.slice(at + 1)}`;
  return scheme[0] + rest.replace(SECRET_PARAMETER, '$1…');
}
