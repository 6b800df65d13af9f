// A web app on another origin reads Rollgate flags with the OpenFeature web SDK and the OFREP web provider
// (from npm, loaded by the page itself), through a frontend token made on /admin/tokens: values, a live
// change within a second, a flag not visible to frontends, origins, a server token, a revoked token.
import { expect, test, type Page } from '@playwright/test';
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { FlagListPage, FlagPage, LoginPage, TokensPage, USERS } from './pages';

const baseUrl = process.env.BASE_URL ?? 'http://127.0.0.1:3100';
const serverToken = process.env.ROLLGATE_TEST_TOKEN ?? '';
const SHOWN = 'web_banner';
const HIDDEN = 'web_internal_pricing';
const end2end = path.resolve(__dirname, '..');

/** A static server for the page and the SDK's files, on a port of its own: another origin. */
async function staticServer(): Promise<{ server: Server; port: number }> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript' };
  const server = createServer(async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://page');
    const file = url.pathname === '/' ? path.join(end2end, 'web', 'index.html')
      : url.pathname.startsWith('/node_modules/@openfeature/') ? path.join(end2end, path.normalize(url.pathname))
      : path.join(end2end, 'web', path.basename(url.pathname));
    try {
      const body = await readFile(file);
      response.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}

let site: { server: Server; port: number };
// `localhost` rather than 127.0.0.1: another site as well as another origin, as a real app would be.
const pageOrigin = () => `http://localhost:${site.port}`;

test.beforeAll(async () => {
  site = await staticServer();
});

test.afterAll(async () => {
  await new Promise((resolve) => site.server.close(resolve));
});

async function openApp(page: Page, token: string, origin = pageOrigin()) {
  const query = new URLSearchParams({ baseUrl, token, flags: `${SHOWN},${HIDDEN}` });
  await page.goto(`${origin}/?${query}`);
}

async function createFlag(page: Page, key: string) {
  await new FlagListPage(page).goto();
  await new FlagListPage(page).waitForHydration();
  await page.getByText('New flag', { exact: true }).click();
  const form = page.getByRole('form', { name: 'New flag' });
  await form.getByLabel('Key').fill(key);
  await form.getByLabel('Name').fill(key);
  await form.getByRole('button', { name: 'Create flag' }).click();
  await expect(page.getByRole('status').filter({ hasText: `Created ${key}` })).toBeVisible();
}

test('a page on another origin reads frontend flags with the OpenFeature web SDK and follows changes live', async ({ page, browser }) => {
  test.setTimeout(60_000);
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.admin);
  await createFlag(page, SHOWN);
  await createFlag(page, HIDDEN);
  const flagPage = new FlagPage(page);
  await flagPage.goto(SHOWN);
  await expect(flagPage.frontendVisibility()).toContainText('No');
  await new FlagListPage(page).waitForHydration();
  await flagPage.showToFrontends();
  const tokens = new TokensPage(page);
  await tokens.goto();
  await new FlagListPage(page).waitForHydration();
  await tokens.create('e2e web app', 'frontend', 'production', [pageOrigin()]);
  const token = await tokens.createdSecret().inputValue();
  await expect(tokens.row(token.slice(0, 12))).toContainText(pageOrigin());

  const app = await (await browser.newContext()).newPage();
  await openApp(app, token);
  await expect(app.getByTestId('provider-status')).toHaveText('ready');
  await expect(app.getByTestId(`flag-${SHOWN}`)).toHaveText(`${SHOWN}: false (off)`);
  await expect(app.getByTestId(`flag-${HIDDEN}`)).toHaveText(`${HIDDEN}: FLAG_NOT_FOUND`);

  // A change in the admin reaches the open page without a reload, within a second.
  const flags = new FlagListPage(page);
  await flags.goto(`?q=${SHOWN}`);
  await flags.waitForHydration();
  await flags.toggle(SHOWN, 'production').click();
  await expect(flags.toggle(SHOWN, 'production')).toHaveAttribute('aria-checked', 'true');
  await expect(app.getByTestId(`flag-${SHOWN}`)).toHaveText(`${SHOWN}: true (on)`, { timeout: 1000 });

  // Revoked: the stream closes, and the provider's next request is refused.
  await tokens.goto();
  await new FlagListPage(page).waitForHydration();
  page.once('dialog', (dialog) => dialog.accept());
  await tokens.row(token.slice(0, 12)).getByRole('button', { name: `Revoke ${token.slice(0, 12)}` }).click();
  await expect(tokens.row(token.slice(0, 12))).toContainText('revoked');
  // The stream ends at once: the provider says its flags may be stale. Its next evaluation is refused.
  await expect(app.getByTestId('provider-status')).toHaveText(/stale|error/, { timeout: 15_000 });
  await app.evaluate(() => (window as unknown as { setVisitor: (key: string) => Promise<void> }).setVisitor('visitor-2').catch(() => {}));
  await expect(app.getByTestId('provider-status')).toContainText('error');
  // Refused either way: by the server (401) or, once no live token lists this origin, by the browser
  // itself, since the preflight gets no CORS answer.
  const refused = await app.evaluate(async ([url, secret]) => {
    try {
      const response = await fetch(`${url}/ofrep/v1/evaluate/flags`, {
        method: 'POST', headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' }, body: '{}',
      });
      return String(response.status);
    } catch {
      return 'refused by the browser';
    }
  }, [baseUrl, token]);
  expect(['401', 'refused by the browser']).toContain(refused);
});

test('a page on an origin no token lists is refused by the browser', async ({ browser }) => {
  const app = await (await browser.newContext()).newPage();
  const corsErrors: string[] = [];
  app.on('console', (message) => { if (/CORS|Access-Control/.test(message.text())) corsErrors.push(message.text()); });
  // The same page and a frontend token, but served from 127.0.0.1: another origin than the one listed.
  const page = await (await browser.newContext()).newPage();
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.admin);
  const tokens = new TokensPage(page);
  await tokens.goto();
  await new FlagListPage(page).waitForHydration();
  await tokens.create('e2e web app, listed origin only', 'frontend', 'production', ['https://app.example']);
  const token = await tokens.createdSecret().inputValue();

  await openApp(app, token, `http://127.0.0.1:${site.port}`);

  await expect(app.getByTestId('provider-status')).toContainText('error');
  expect(corsErrors.join('\n')).toContain('Access-Control-Allow-Origin');
});

test('the same page with a server token is refused', async ({ browser }) => {
  expect(serverToken, 'scripts/test creates a production evaluate token in ROLLGATE_TEST_TOKEN').not.toBe('');
  // The page's origin is listed by a live frontend token, so the browser lets the request through.
  const page = await (await browser.newContext()).newPage();
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.admin);
  const tokens = new TokensPage(page);
  await tokens.goto();
  await new FlagListPage(page).waitForHydration();
  await tokens.create('e2e web app, again', 'frontend', 'production', [pageOrigin()]);
  await expect(tokens.createdSecret()).toHaveValue(/^rgt_/);
  const app = await (await browser.newContext()).newPage();
  const refusals: number[] = [];
  app.on('response', (response) => { if (response.url().includes('/ofrep/')) refusals.push(response.status()); });

  await openApp(app, serverToken);

  await expect(app.getByTestId('provider-status')).toContainText('error');
  expect(refusals).toContain(403);
});
