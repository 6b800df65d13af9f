// Guardrails, the whole story: a canary in production with the template's guardrails, healthy traffic from
// `rollgate simulate`, charts that show it, then 10% errors in treatment, and the rollout rolls itself back
// within two worker intervals (scripts/test runs the worker every 2 s), with the timeline, the audit log and
// a signed webhook saying which guardrail fired and on what figures.
// Works on phase2_connection_monitoring, which no other spec touches.
import { expect, test } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { acceptConfirmations, FlagListPage, FlagPage, LoginPage, RolloutPage, RolloutsPanel, USERS } from './pages';

const FLAG = 'phase2_connection_monitoring';
const SECRET = 'e2e-guardrail-secret-0123456789';
const BIN = process.env.ROLLGATE_BIN ?? resolve(__dirname, '../../target/debug/rollgate');
const TOKEN = process.env.ROLLGATE_TEST_TOKEN ?? '';

type Hit = { headers: IncomingHttpHeaders; body: string };

test('a canary that goes bad rolls itself back, and the charts, timeline, audit and a signed webhook say why', async ({ page, baseURL }) => {
  test.setTimeout(150_000);
  const hits: Hit[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      hits.push({ headers: req.headers, body });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((done) => receiver.listen(0, '127.0.0.1', done));
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  let simulator: ChildProcess | undefined;
  let simulatorLog = '';
  try {
    await new LoginPage(page).goto();
    await new LoginPage(page).signIn(USERS.admin);
    acceptConfirmations(page);

    // A webhook for guardrail breaches.
    await page.goto('/admin/settings/webhooks');
    await new FlagListPage(page).waitForHydration();
    const form = page.getByRole('form', { name: 'New webhook' });
    await form.getByLabel('Name').fill('e2e guardrails');
    await form.getByLabel('URL').fill(hookUrl);
    await form.getByLabel('Generic JSON').check();
    await form.getByLabel('Signing secret (optional)').fill(SECRET);
    for (const box of await form.getByRole('checkbox').all()) await box.uncheck();
    await form.getByRole('checkbox', { name: /^guardrail\.breached / }).check();
    await form.getByRole('button', { name: 'Create webhook' }).click();
    await expect(page.getByTestId('webhook-table')).toContainText('e2e guardrails');

    // The flag on in production, so the rollout's percentage decides who is in.
    const flags = new FlagListPage(page);
    await flags.goto();
    await flags.waitForHydration();
    const toggle = flags.toggle(FLAG, 'production');
    if ((await toggle.getAttribute('aria-checked')) !== 'true') await toggle.click();
    await expect(toggle).toHaveAttribute('aria-checked', 'true');

    // A canary, started at 10% by an admin overriding the ops on-call's sign-off.
    await new FlagPage(page).goto(FLAG);
    await flags.waitForHydration();
    const panel = new RolloutsPanel(page);
    await panel.plan({ environment: 'production', plan: 'Canary' });
    await panel.open('production');
    const rollout = new RolloutPage(page);
    await flags.waitForHydration();
    await rollout.actions().overrideGates('e2e: guardrail demonstration', 'Start');
    await expect(rollout.status()).toHaveText('active');
    await expect(rollout.percent()).toHaveText('10%');
    const guardrails = page.getByTestId('guardrails');
    await expect(guardrails).toContainText('error rate above 1% over 5 min, at least 100 requests: rolls back');
    await expect(guardrails).toContainText('p99 latency above 500 ms');

    // Healthy traffic: no errors, every latency in the first bucket (so p95s of both cohorts agree exactly).
    const dir = mkdtempSync(join(tmpdir(), 'rollgate-sim-'));
    const control = join(dir, 'control.json');
    writeFileSync(control, '{}');
    simulator = spawn(
      BIN,
      ['simulate', '--flag', FLAG, '--env', 'production', '--rps', '200', '--duration', 'forever', '--flush', '1s',
        '--error-rate-on', '0', '--error-rate-off', '0', '--latency-on-ms', '3', '--latency-off-ms', '3',
        '--jitter', '0.05', '--control', control],
      { env: { ...process.env, ROLLGATE_URL: baseURL, ROLLGATE_TOKEN: TOKEN, RUST_LOG: 'warn' } },
    );
    simulator.stdout?.on('data', (chunk) => (simulatorLog += chunk));
    simulator.stderr?.on('data', (chunk) => (simulatorLog += chunk));

    // The error-rate guardrail turns healthy once 100 treatment requests are in.
    const errorRate = guardrails.getByRole('row').filter({ hasText: 'error rate above 1%' });
    await expect(async () => {
      await page.reload();
      await expect(errorRate.getByTestId('guardrail-status')).toHaveText('healthy', { timeout: 1_000 });
    }).toPass({ timeout: 45_000 });
    await expect(rollout.status()).toHaveText('active');

    // The charts have data: series, not the empty state.
    const figures = page.getByTestId('rollout-figures');
    await expect(figures.getByTestId('error-rate-figure').locator('svg')).toBeVisible();
    await expect(figures).not.toContainText('No figures yet');
    await expect(figures.getByTestId('latency-figure').locator('svg title')).toContainText(/latency/i);

    // 10% errors in treatment: the simulator re-reads its control file every second.
    writeFileSync(control, JSON.stringify({ error_rate_on: 0.1 }));
    const broke = Date.now();
    await expect(async () => {
      await page.reload();
      await expect(rollout.status()).toHaveText('rolled back', { timeout: 1_000 });
    }).toPass({ timeout: 30_000 });
    const tookSeconds = (Date.now() - broke) / 1000;
    console.log(`guardrail rollback seen ${tookSeconds.toFixed(1)} s after the switch to 10% errors`);
    // Within 20 s of the breach (in practice a flush, a worker interval or two, and a page load).
    expect(tookSeconds).toBeLessThan(20);
    await expect(rollout.percent()).toHaveText('0%');

    // The timeline says which guardrail fired, and on what figures.
    const rolledBack = rollout.timeline().getByRole('row').filter({ hasText: 'by a guardrail' }).first();
    await expect(rolledBack).toContainText('system:guardrail');
    await expect(rolledBack).toContainText(/rolled back by a guardrail: error[ -]rate/);
    await expect(rolledBack).toContainText(/breached: error[ -]rate .*(above 1%|above 5 points).*requests in/);

    // So does the audit log.
    await page.goto('/admin/audit');
    const entry = page.getByRole('row').filter({ hasText: 'rollout.rolled_back' }).filter({ hasText: 'system:guardrail' }).first();
    await expect(entry).toBeVisible();
    await expect(entry).toContainText(/guardrail error[ -]rate (increase )?breached/);

    // And the receiver got the signed notification.
    await expect.poll(() => hits.filter((h) => h.headers['x-rollgate-event'] === 'guardrail.breached').length, { timeout: 15_000 }).toBeGreaterThan(0);
    const hit = hits.find((h) => h.headers['x-rollgate-event'] === 'guardrail.breached')!;
    const [t, v1] = String(hit.headers['x-rollgate-signature']).split(',').map((p) => p.split('=')[1]);
    expect(createHmac('sha256', SECRET).update(`${t}.${hit.body}`).digest('hex')).toBe(v1);
    const payload = JSON.parse(hit.body);
    expect(payload.event).toBe('guardrail.breached');
    expect(payload.data.flag).toBe(FLAG);
    expect(payload.data.details.decision.status).toBe('breached');
    expect(payload.summary).toContain('rolled back by a guardrail');
  } catch (error) {
    console.log(`simulator output:\n${simulatorLog}`);
    throw error;
  } finally {
    simulator?.kill('SIGTERM');
    receiver.close();
  }
});
