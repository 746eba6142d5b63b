import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { SERVICE_NODE_FLAGS } from '../../service/node-flags.js';
import { PACKAGE_ROOT } from '../../src/paths.js';

const read = (path: string) => readFileSync(join(PACKAGE_ROOT, path), 'utf8');

it('every way of starting the service gives Node the same V8 flags', () => {
  const flags = SERVICE_NODE_FLAGS.join(' ');
  expect(read('dist/service/cli.js').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${flags}`);
  expect((JSON.parse(read('package.json')) as { scripts: { start: string } }).scripts.start).toBe(`node ${flags} dist/service/cli.js serve`);
  const entrypoint = /^ENTRYPOINT (.*)$/m.exec(read('Dockerfile'))?.[1];
  expect(JSON.parse(entrypoint!)).toEqual(['node', ...SERVICE_NODE_FLAGS, '/app/deploy/docker-entrypoint.mjs']);
  // The docs that name them.
  for (const doc of ['README.md', 'docs/operations.md']) expect(read(doc), doc).toContain(`\`${flags}\``);
});

it('this Node takes every one of them (an unknown V8 flag stops it before it starts)', () => {
  expect(execFileSync(process.execPath, [...SERVICE_NODE_FLAGS, '-p', "require('node:v8').getHeapStatistics().heap_size_limit > 0"], { encoding: 'utf8' }).trim()).toBe('true');
  expect(() => execFileSync(process.execPath, ['--no-such-v8-flag', '-e', '0'], { stdio: 'ignore' })).toThrow();
});
