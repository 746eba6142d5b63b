// The image's entry point: says plainly when the database's folder is not writable by the container's
// user (a volume owned by another uid), which SQLite would report only as "unable to open database
// file", then runs the CLI in this same process, so it keeps PID 1 and gets SIGTERM itself.
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

const url = process.env.DATABASE_URL ?? '';
if (url !== '' && !/^postgres(ql)?:\/\//.test(url)) {
  const file = resolve(url);
  let dir = dirname(file);
  while (!existsSync(dir)) dir = dirname(dir);
  const target = existsSync(file) ? file : dir;
  try {
    accessSync(target, constants.W_OK);
  } catch (error) {
    const uid = process.getuid?.();
    const gid = process.getgid?.();
    console.error(
      `tokentally: cannot write the database ${file} (DATABASE_URL): ${target} is not writable by uid ${uid} (gid ${gid}) (${error.code}). ` +
        `Give that uid the volume (e.g. chown -R ${uid}:${gid} on the host folder, or a named volume), or run as its owner with --user.`,
    );
    process.exit(1);
  }
}
await import('../dist/service/cli.js');
