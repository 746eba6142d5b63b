/** What may open a URL before its user: a scheme, and slashes (as many as were typed). */
const OPENING = /^\s*(?:[a-z][a-z0-9+.-]*:)?\/*/i;
/** A PostgreSQL URL's user is a role name, worth showing; any other scheme's may be a token. */
const ROLE_USER = /^\s*postgres(ql)?:/i;
/** Query (or fragment) parameters, after `?`, `&`, `;` or `#`. */
const PARAMETER = /([?&;#])([^=&;#]*)=([^&;#]*)/g;
/** A parameter name that says it holds a secret (libpq's `password`, `sslpassword`; tokens, keys, signatures). */
const SECRET_NAME = /pass|pwd|secret|token|key|sig|auth/i;

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * A URL as a message or a log line may show it: no password, and no parameter whose name says it
 * holds a secret. Whatever stands before the last `@` is taken for the user and password, so that
 * a password written without percent-encoding (`u:12#x@host`) or a URL typed without its scheme or
 * a slash goes too; a PostgreSQL URL keeps its user (a role name), any other loses it (it may be a
 * token). A `@` in the query then costs the message its host, never a secret. Text without a
 * user and password or a parameter (a file path, even one with an `@`) is returned as it is.
 */
export function shownUrl(text: string): string {
  let shown = text;
  const at = shown.lastIndexOf('@');
  // A user and password: a `:` before the `@`, or a URL's `//` (a path such as /home/ann@example.com stays).
  if (at >= 0 && (shown.lastIndexOf(':', at) >= 0 || shown.slice(0, at).includes('//'))) {
    const opening = OPENING.exec(shown)![0];
    const user = ROLE_USER.test(shown) ? shown.slice(opening.length, at).split(':')[0] : '…';
    shown = `${opening}${user}${shown.slice(at)}`;
  }
  return shown.replace(PARAMETER, (whole, separator: string, name: string) => (SECRET_NAME.test(decoded(name)) ? `${separator}${name}=…` : whole));
}
