import { expect, test, type APIRequestContext } from '@playwright/test';
import { EvaluateForPanel, FlagListPage, FlagPage, LoginPage, TokensPage, USERS } from './pages';

async function evaluateWith(request: APIRequestContext, token: string): Promise<number> {
  const response = await request.post('/api/v1/evaluate', {
    headers: { Authorization: `Bearer ${token}` },
    data: { context: { customer_id: 'c-1' } },
  });
  return response.status();
}

test('an admin creates an evaluate token, sees it once, uses it, and revokes it', async ({ page, request }) => {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.admin);
  const tokens = new TokensPage(page);
  await tokens.goto();
  await new FlagListPage(page).waitForHydration();

  await tokens.create('e2e checkout service', 'evaluate', 'staging');

  const secret = await tokens.createdSecret().inputValue();
  expect(secret).toMatch(/^rgt_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}$/);
  const prefix = secret.slice(0, 12);
  await expect(tokens.row(prefix)).toContainText('e2e checkout service');
  await expect(tokens.row(prefix)).toContainText('staging');
  await expect.poll(() => evaluateWith(request, secret)).toBe(200);

  // Shown once: a fresh visit lists the token without its secret.
  await tokens.goto();
  await expect(tokens.createdSecret()).toHaveCount(0);
  await expect(page.getByText(secret)).toHaveCount(0);
  await expect(tokens.row(prefix)).not.toContainText('never', { timeout: 5_000 });

  page.once('dialog', (dialog) => dialog.accept());
  await tokens.row(prefix).getByRole('button', { name: `Revoke ${prefix}` }).click();
  await expect(tokens.row(prefix)).toContainText('revoked');
  await expect.poll(() => evaluateWith(request, secret)).toBe(401);
});

test('a token made without JavaScript is shown once on the page the form returns to', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.admin);
  const tokens = new TokensPage(page);
  await tokens.goto();

  await tokens.create('e2e deploy script', 'admin', USERS.editor);

  await expect(page).toHaveURL(/\/admin\/tokens/);
  const secret = await tokens.createdSecret().inputValue();
  expect(secret).toMatch(/^rgt_/);
  await expect(tokens.row(secret.slice(0, 12))).toContainText(USERS.editor);
  await page.reload();
  await expect(tokens.createdSecret()).toHaveCount(0);
  await context.close();
});

test('only admins manage tokens', async ({ page }) => {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.editor);

  await new TokensPage(page).goto();

  await expect(page.getByRole('alert')).toContainText('cannot manage API tokens');
  await expect(page.getByRole('button', { name: 'Create token' })).toHaveCount(0);
});

test('"evaluate for" shows what a flag answers for an organization in every environment', async ({ page }) => {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.viewer);
  await new FlagPage(page).goto('priority_urls_enabled');
  const panel = new EvaluateForPanel(page);

  // The demo turns priority URLs on for the seo-insights account only, by an organization override.
  await panel.evaluate({ organization: 'seo-insights' });
  await expect(page).toHaveURL(/organization=seo-insights/);
  await expect(panel.answer('production')).toContainText('true');
  await expect(panel.answer('production')).toContainText('TARGETING_MATCH');
  await expect(panel.answer('production')).toContainText('an override for organization seo-insights');

  await panel.evaluate({ organization: 'acme', customer: 'c-1' });
  await expect(panel.answer('production')).toContainText('false');
  await expect(panel.answer('production')).toContainText('DEFAULT');
});
