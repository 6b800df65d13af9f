// OpenFeature's Python SDK with the OFREP provider from PyPI (installed by scripts/lib.sh into tools/) against
// the running server: that provider reads `variant` from every answer, so every answer must name one.
import { expect, test } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const python = path.join(root, 'tools', 'ofrep-py', 'bin', 'python');

test('the Python OFREP provider evaluates flags with their variants and reasons', () => {
  const out = execFileSync(python, [path.join(root, 'end2end', 'python', 'ofrep_client.py')], {
    env: { ...process.env, BASE_URL: process.env.BASE_URL ?? 'http://127.0.0.1:3100' },
    encoding: 'utf8',
  });
  const answers = Object.fromEntries(out.trim().split('\n').map((line) => {
    const answer = JSON.parse(line);
    return [answer.flag, answer];
  }));

  expect(answers.autoRestore).toMatchObject({ value: true, variant: 'on', reason: 'STATIC', error_code: null });
  expect(answers.ENABLE_PART_CATEGORIES).toMatchObject({ value: false, variant: 'off', reason: 'DISABLED' });
  expect(answers.priority_urls_enabled).toMatchObject({ value: true, variant: 'on', reason: 'TARGETING_MATCH' });
  expect(answers.no_such_flag).toMatchObject({ value: true, error_code: 'FLAG_NOT_FOUND' });
});
