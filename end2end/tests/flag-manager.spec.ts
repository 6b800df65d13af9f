import { expect, test } from '@playwright/test';
import { FlagListPage, FlagPage, LoginPage, USERS } from './pages';

test('an admin signs in and lands on the flag manager', async ({ page }) => {
  const login = new LoginPage(page);
  await login.goto();
  await login.signIn(USERS.admin);

  await expect(page).toHaveURL(/\/admin\/feature-flags$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Feature flags' })).toBeVisible();
  await expect(page.getByTestId('current-user')).toHaveText('Ada Admin');
});

test('a wrong password keeps you on the sign-in page with a message', async ({ page }) => {
  const login = new LoginPage(page);
  await login.goto();
  await login.signIn(USERS.admin, 'not the password');

  await expect(page).toHaveURL(/\/login\?error=1/);
  await expect(page.getByRole('alert')).toHaveText('Wrong email or password.');
});

test('the demo flags are grouped by phase, in phase order', async ({ page }) => {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.viewer);
  const flags = new FlagListPage(page);

  const headings = await flags.phaseHeadings().allInnerTexts();
  expect(headings.slice(0, 3)).toEqual(['Phase 1: Session persistence', 'Phase 2: Resilience', 'Phase 3: Multi-tab']);
  for (const key of ['parentStorage', 'crossDomainMessaging', 'autoRestore']) {
    await expect(flags.phase('phase-1').getByTestId(`flag-row-${key}`)).toBeVisible();
  }
  await expect(flags.phase('phase-3').getByTestId('flag-row-phase3_tab_sync')).toBeVisible();
  await expect(flags.phase('notifications').getByTestId('flag-row-ENABLE_TG_ADMIN_NOTIFS')).toBeVisible();
  await expect(flags.phase('seo').getByTestId('flag-row-priority_urls_enabled')).toBeVisible();
  // Phase 1 is on everywhere in the demo.
  await expect(flags.toggle('parentStorage', 'production')).toHaveAttribute('aria-checked', 'true');
});

test('search and filters narrow the list on the server', async ({ page }) => {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.viewer);
  const flags = new FlagListPage(page);

  await page.getByLabel('Search').fill('telegram');
  await page.getByRole('button', { name: 'Apply' }).click();

  await expect(page).toHaveURL(/q=telegram/);
  await expect(flags.row('ENABLE_TG_ADMIN_NOTIFS')).toBeVisible();
  await expect(flags.row('ENABLE_TG_MECH_NOTIFS')).toBeVisible();
  await expect(flags.row('parentStorage')).toHaveCount(0);
  await expect(page.getByTestId('flag-count')).toHaveText('Showing 1–2 of 2 flags');

  await flags.goto('?env=production&state=on');
  await expect(flags.row('autoRestore')).toBeVisible();
  await expect(flags.row('phase3_tab_sync')).toHaveCount(0);
  await expect(flags.toggle('autoRestore', 'staging')).toHaveCount(0);
});

test('an editor toggles a flag in staging; it persists after a reload and shows in the history', async ({ page }) => {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.editor);
  const flags = new FlagListPage(page);
  await flags.waitForHydration();
  const toggle = flags.toggle('phase2_retry_logic', 'staging');
  await expect(toggle).toHaveAttribute('aria-checked', 'false');

  await toggle.click();

  await expect(toggle).toHaveAttribute('aria-checked', 'true');
  await expect(page).toHaveURL(/\/admin\/feature-flags$/);
  await page.reload();
  await expect(flags.toggle('phase2_retry_logic', 'staging')).toHaveAttribute('aria-checked', 'true');
  await expect(flags.toggle('phase2_retry_logic', 'production')).toHaveAttribute('aria-checked', 'false');

  const flagPage = new FlagPage(page);
  await flagPage.goto('phase2_retry_logic');
  const latest = flagPage.history().getByRole('row').nth(1);
  await expect(latest).toContainText('editor@rollgate.local');
  await expect(latest).toContainText('flag.toggled');
  await expect(latest).toContainText('staging');
  await expect(latest).toContainText('off → on');
});

test('the toggle works without JavaScript too', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.editor);
  const flags = new FlagListPage(page);
  await expect(flags.toggle('ENABLE_UI_REFRESH', 'staging')).toHaveAttribute('aria-checked', 'false');

  await flags.toggle('ENABLE_UI_REFRESH', 'staging').click();

  // The form posted to the server function, which sent the browser back to the list.
  await expect(page).toHaveURL(/\/admin\/feature-flags\??$/);
  await expect(flags.toggle('ENABLE_UI_REFRESH', 'staging')).toHaveAttribute('aria-checked', 'true');
  await context.close();
});

test('a reason given on the flag page is recorded in the history', async ({ page }) => {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.editor);
  const flagPage = new FlagPage(page);
  await flagPage.goto('FEATURE_FLAG_DLQ_ENABLED');
  await new FlagListPage(page).waitForHydration();

  await page.getByLabel('Reason for changing production').fill('DLQ verified in staging');
  await page.getByRole('switch', { name: 'FEATURE_FLAG_DLQ_ENABLED in production' }).click();

  await expect(page.getByRole('switch', { name: 'FEATURE_FLAG_DLQ_ENABLED in production' })).toHaveAttribute('aria-checked', 'true');
  await expect(flagPage.history().getByRole('row').nth(1)).toContainText('DLQ verified in staging');
});

test('a viewer sees the switches but cannot use them, and the server refuses a forged toggle', async ({ page }) => {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.viewer);
  const flags = new FlagListPage(page);

  const toggle = flags.toggle('phase3_analytics', 'staging');
  await expect(toggle).toBeDisabled();
  await expect(page.getByTestId('view-only')).toContainText('view-only access');
  await expect(page.getByText('New flag', { exact: true })).toHaveCount(0);

  const response = await page.request.post('/api/toggle_flag', {
    form: { flag: 'phase3_analytics', env: 'staging', enabled: 'true' },
  });
  expect(response.status()).toBe(403);
  await page.reload();
  await expect(flags.toggle('phase3_analytics', 'staging')).toHaveAttribute('aria-checked', 'false');
});

test('the new flag form shows errors next to the field, then creates the flag', async ({ page }) => {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.editor);
  const flags = new FlagListPage(page);
  await flags.waitForHydration();
  await page.getByText('New flag', { exact: true }).click();
  const form = page.getByRole('form', { name: 'New flag' });

  await form.getByLabel('Key').fill('parentStorage');
  await form.getByLabel('Name').fill('Checkout v2');
  await form.getByRole('button', { name: 'Create flag' }).click();
  await expect(page.locator('#new-key-error')).toHaveText('a flag with the key "parentStorage" already exists');
  await expect(form.getByLabel('Key')).toHaveAttribute('aria-invalid', 'true');

  await form.getByLabel('Key').fill('checkout.v2');
  await form.getByLabel('Phase').selectOption({ label: 'UI features' });
  await form.getByRole('button', { name: 'Create flag' }).click();

  await expect(page.getByRole('status').filter({ hasText: 'Created checkout.v2' })).toBeVisible();
  await expect(flags.phase('ui-features').getByTestId('flag-row-checkout.v2')).toBeVisible();
});

test('without JavaScript the new flag form still shows the error next to the field', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.editor);
  await page.getByText('New flag', { exact: true }).click();
  const form = page.getByRole('form', { name: 'New flag' });

  await form.getByLabel('Key').fill('autoRestore');
  await form.getByLabel('Name').fill('Duplicate');
  await form.getByRole('button', { name: 'Create flag' }).click();

  await expect(page.locator('#new-key-error')).toHaveText('a flag with the key "autoRestore" already exists');
  await context.close();
});

test('the audit log lists changes newest first and filters by flag', async ({ page }) => {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.admin);
  const flags = new FlagListPage(page);
  await flags.waitForHydration();
  await flags.toggle('phase3_performance_mode', 'development').click();
  await expect(flags.toggle('phase3_performance_mode', 'development')).toHaveAttribute('aria-checked', 'true');
  await flags.toggle('phase3_performance_mode', 'development').click();
  await expect(flags.toggle('phase3_performance_mode', 'development')).toHaveAttribute('aria-checked', 'false');

  await page.getByRole('link', { name: 'Audit log' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Audit log' })).toBeVisible();
  await page.getByLabel('Flag').fill('phase3_performance_mode');
  await page.getByRole('button', { name: 'Apply' }).click();

  await expect(page).toHaveURL(/flag=phase3_performance_mode/);
  const rows = page.getByTestId('audit-table').getByRole('row');
  await expect(rows).toHaveCount(3);
  await expect(rows.nth(1)).toContainText('on → off');
  await expect(rows.nth(2)).toContainText('off → on');
  await expect(rows.nth(1)).toContainText('admin@rollgate.local');
});

test('signing out ends the session', async ({ page }) => {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.admin);
  const flags = new FlagListPage(page);

  await flags.signOut();

  await expect(page).toHaveURL(/\/login\?signed_out=1/);
  await expect(page.getByRole('status')).toHaveText('You have signed out.');
  await flags.goto();
  await expect(page).toHaveURL(/\/login\?next=/);
});

test('an audit event shows its before and after, and the CSV link keeps the filters', async ({ page }) => {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.admin);
  const flags = new FlagListPage(page);
  await flags.waitForHydration();
  await flags.toggle('phase2_connection_monitoring', 'staging').click();
  await expect(flags.toggle('phase2_connection_monitoring', 'staging')).toHaveAttribute('aria-checked', 'true');

  await page.goto('/admin/audit?flag=phase2_connection_monitoring&action=flag.toggled');
  const latest = page.getByTestId('audit-table').getByRole('row').nth(1);
  await latest.getByText('Before / after').click();
  const diff = latest.getByTestId('audit-diff');
  await expect(diff).toBeVisible();
  await expect(diff).toContainText('enabled');
  await expect(diff).toContainText('before: false');
  await expect(diff).toContainText('after: true');

  const csv = page.getByTestId('audit-csv');
  await expect(csv).toHaveAttribute('href', '/api/admin/audit.csv?flag=phase2_connection_monitoring&action=flag.toggled');
  const response = await page.request.get('/api/admin/audit.csv?flag=phase2_connection_monitoring&action=flag.toggled');
  expect(response.status()).toBe(200);
  expect(await response.text()).toContain('enabled: false -> true');
});

test('the flag list filters stale flags', async ({ page }) => {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.viewer);
  const flags = new FlagListPage(page);

  await page.getByLabel('Hygiene').selectOption('true');
  await page.getByRole('button', { name: 'Apply' }).click();

  await expect(page).toHaveURL(/stale=true/);
  // The demo data is fresh: nothing is stale yet.
  await expect(page.getByTestId('flag-count')).toHaveText('No flags match.');
  await expect(flags.phaseHeadings()).toHaveCount(0);
});
