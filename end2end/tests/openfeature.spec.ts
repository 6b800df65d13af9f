// A real OpenFeature client (the server SDK with its OFREP provider, from npm) against the running server.
import { expect, test } from '@playwright/test';
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { FlagListPage, LoginPage, USERS } from './pages';

const token = process.env.ROLLGATE_TEST_TOKEN ?? '';
const baseUrl = process.env.BASE_URL ?? 'http://127.0.0.1:3100';

test.beforeAll(async () => {
  expect(token, 'scripts/test creates a production evaluate token in ROLLGATE_TEST_TOKEN').not.toBe('');
  await OpenFeature.setProviderAndWait(
    new OFREPProvider({ baseUrl, headers: [['Authorization', `Bearer ${token}`]] }),
  );
});

test.afterAll(async () => {
  await OpenFeature.close();
});

test('the OpenFeature SDK evaluates demo flags with their reasons', async () => {
  const client = OpenFeature.getClient();

  const on = await client.getBooleanDetails('autoRestore', false, { targetingKey: 'cust-0001' });
  expect(on.value).toBe(true);
  expect(on.reason).toBe('STATIC');

  const seo = await client.getBooleanDetails('priority_urls_enabled', false, { targetingKey: 'cust-0006', organizationId: 'seo-insights' });
  expect(seo.value).toBe(true);
  expect(seo.reason).toBe('TARGETING_MATCH');

  const otherAccount = await client.getBooleanDetails('priority_urls_enabled', true, { targetingKey: 'cust-0001', organizationId: 'acme' });
  expect(otherAccount.value).toBe(false);

  const off = await client.getBooleanDetails('ENABLE_PART_CATEGORIES', true, { targetingKey: 'cust-0001' });
  expect(off.value).toBe(false);
  expect(off.reason).toBe('DISABLED');
});

test('an unknown flag gives the default with FLAG_NOT_FOUND', async () => {
  const client = OpenFeature.getClient();
  const details = await client.getBooleanDetails('no_such_flag', true, { targetingKey: 'cust-0001' });
  expect(details.value).toBe(true);
  expect(details.errorCode).toBe('FLAG_NOT_FOUND');
});

test('a change made in the UI reaches the OpenFeature client', async ({ page }) => {
  const client = OpenFeature.getClient();
  const before = await client.getBooleanDetails('ENABLE_CAR_NUMBER', true, { targetingKey: 'cust-0001' });
  expect(before.value).toBe(false);

  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.editor);
  const flags = new FlagListPage(page);
  await flags.waitForHydration();
  await flags.toggle('ENABLE_CAR_NUMBER', 'production').click();
  await expect(flags.toggle('ENABLE_CAR_NUMBER', 'production')).toHaveAttribute('aria-checked', 'true');

  await expect
    .poll(async () => (await client.getBooleanDetails('ENABLE_CAR_NUMBER', false, { targetingKey: 'cust-0001' })).value, { timeout: 2000, intervals: [20] })
    .toBe(true);
});

/** Reads a Server-Sent Events stream until an event named `name` (or a message whose data has that `type`,
 * as OFREP's refetchEvaluation) arrives; resolves with its data. */
async function nextEvent(body: ReadableStream<Uint8Array>, name: string): Promise<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the stream ended before a ${name} event`);
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const lines = block.split('\n');
      const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (lines.includes(`event: ${name}`) || (!lines.some((l) => l.startsWith('event:')) && data.includes(`"type":"${name}"`))) {
        reader.releaseLock();
        return data;
      }
    }
  }
}

test('a change made in the UI reaches the live stream, REST and OFREP', async ({ page, request }, testInfo) => {
  const auth = { Authorization: `Bearer ${token}` };
  const controller = new AbortController();
  const stream = await fetch(`${baseUrl}/api/v1/stream`, { headers: auth, signal: controller.signal });
  expect(stream.status).toBe(200);
  const body = stream.body!;
  const ready = JSON.parse(await nextEvent(body, 'ready'));
  const rest = async () =>
    (await (await request.get('/api/v1/flags/ENABLE_MECH_I18N?customer_id=cust-0001', { headers: auth })).json()).value;
  expect(await rest()).toBe(false);

  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.editor);
  const flags = new FlagListPage(page);
  await flags.waitForHydration();
  const refetch = nextEvent(body, 'refetchEvaluation');
  const sent = Date.now();
  await flags.toggle('ENABLE_MECH_I18N', 'production').click();

  const event = JSON.parse(await refetch);
  const heard = Date.now();
  expect(event.type).toBe('refetchEvaluation');
  expect(event.version).toBeGreaterThan(ready.version);
  // Right after the news, both APIs already answer with the change: the stream is sent after the swap.
  expect(await rest()).toBe(true);
  const ofrep = await request.post('/ofrep/v1/evaluate/flags/ENABLE_MECH_I18N', {
    headers: auth,
    data: { context: { targetingKey: 'cust-0001' } },
  });
  expect((await ofrep.json()).value).toBe(true);
  // For the record, not a pass mark (timings belong to scripts/propagation.py): click to event, which
  // includes the browser's request and the debug build's server function.
  testInfo.annotations.push({ type: 'click to refetchEvaluation', description: `${heard - sent} ms` });
  controller.abort();
});
