import { expect, test, type Locator, type Page } from '@playwright/test';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FlagListPage, LoginPage, USERS } from './pages';

const SECRET = 'e2e-receiver-secret-0123456789';

/** The settings page at /admin/settings/webhooks. */
class WebhooksPage {
  constructor(private readonly page: Page) {}

  async goto() {
    await this.page.goto('/admin/settings/webhooks');
  }

  async create(name: string, url: string, opts: { kind?: 'Slack (incoming webhook)' | 'Generic JSON'; secret?: string; events?: string[] } = {}) {
    const form = this.page.getByRole('form', { name: 'New webhook' });
    await form.getByLabel('Name').fill(name);
    await form.getByLabel('URL').fill(url);
    await form.getByLabel(opts.kind ?? 'Generic JSON').check();
    if (opts.secret !== undefined) await form.getByLabel('Signing secret (optional)').fill(opts.secret);
    if (opts.events) {
      for (const box of await form.getByRole('checkbox').all()) await box.uncheck();
      for (const event of opts.events) await form.getByRole('checkbox', { name: new RegExp(`^${event.replace('.', '\\.')} `) }).check();
    }
    await form.getByRole('button', { name: 'Create webhook' }).click();
  }

  row(name: string): Locator {
    return this.page.getByTestId('webhook-table').getByRole('row').filter({ has: this.page.getByRole('rowheader', { name }) });
  }

  deliveries(): Locator {
    return this.page.getByTestId('delivery-table');
  }

  createdSecret(): Locator {
    return this.page.getByLabel('The signing secret');
  }

  fieldError(id: string): Locator {
    return this.page.locator(`#${id}-error`);
  }
}

type Hit = { headers: IncomingHttpHeaders; body: string };

async function startReceiver(): Promise<{ server: Server; url: string; hits: Hit[] }> {
  const hits: Hit[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      hits.push({ headers: req.headers, body });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/hook`, hits };
}

test('an admin adds a webhook, sends a test, and the receiver gets it signed', async ({ page }) => {
  const receiver = await startReceiver();
  try {
    await new LoginPage(page).goto();
    await new LoginPage(page).signIn(USERS.admin);
    const hooks = new WebhooksPage(page);
    await hooks.goto();
    await new FlagListPage(page).waitForHydration();

    await hooks.create('e2e receiver', receiver.url, { secret: SECRET, events: ['rollout.advanced'] });
    const row = hooks.row('e2e receiver');
    await expect(row).toContainText('rollout.advanced');
    await expect(row).toContainText('none yet');

    await row.getByRole('button', { name: 'Send test to e2e receiver' }).click();
    await expect.poll(() => receiver.hits.length, { timeout: 15_000 }).toBeGreaterThan(0);
    const hit = receiver.hits[0];
    expect(hit.headers['x-rollgate-event']).toBe('webhook.test');
    const [t, v1] = String(hit.headers['x-rollgate-signature']).split(',').map((p) => p.split('=')[1]);
    expect(createHmac('sha256', SECRET).update(`${t}.${hit.body}`).digest('hex')).toBe(v1);
    expect(JSON.parse(hit.body).event).toBe('webhook.test');

    await expect(async () => {
      await hooks.goto();
      await expect(hooks.deliveries()).toContainText('delivered', { timeout: 1_000 });
    }).toPass({ timeout: 15_000 });

    page.once('dialog', (dialog) => dialog.accept());
    await hooks.row('e2e receiver').getByRole('button', { name: 'Delete e2e receiver' }).click();
    await expect(hooks.row('e2e receiver')).toHaveCount(0);
  } finally {
    receiver.server.close();
  }
});

test('without JavaScript: errors show next to their field, and a generated secret is shown once', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.admin);
  const hooks = new WebhooksPage(page);
  await hooks.goto();

  await hooks.create('e2e no events', 'https://hooks.example.com/x', { events: [] });
  await expect(hooks.fieldError('webhook-events')).toHaveText('choose at least one event');

  await hooks.goto();
  await hooks.create('e2e generated', 'https://hooks.example.com/generated', { kind: 'Slack (incoming webhook)' });
  await expect(page).toHaveURL(/\/admin\/settings\/webhooks/);
  await expect(hooks.createdSecret()).toHaveValue(/^whsec_[A-Za-z0-9]{40}$/);
  await expect(hooks.row('e2e generated')).toContainText('Slack');
  await page.reload();
  await expect(hooks.createdSecret()).toHaveCount(0);
  await context.close();
});

test('only admins see the webhook settings', async ({ page }) => {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.editor);
  await page.goto('/admin/settings/webhooks');
  await expect(page.getByRole('alert')).toContainText('cannot manage webhooks');
});
