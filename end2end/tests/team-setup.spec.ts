// A team sets Rollgate up on its own data: a server started on an EMPTY database (no demo, no SQL, by
// scripts/test: FRESH_BASE_URL, its log in ROLLGATE_FRESH_LOG). The first admin arrives through the set-up
// link the server printed; everything else is done in the product, as a new team would.
import { expect, test, type Browser, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import {
  acceptConfirmations,
  ApprovalsPage,
  auditActions,
  EnvironmentsPage,
  FlagListPage,
  LinkPage,
  LoginPage,
  OverridesCard,
  PhasesPage,
  RolloutsPanel,
  TokensPage,
  UsersPage,
} from './pages';

const baseURL = process.env.FRESH_BASE_URL ?? '';
const serverLog = process.env.ROLLGATE_FRESH_LOG ?? '';
const ADMIN = { email: 'lead@team.example', name: 'Lee Lead', password: 'a long admin password' };
const OWNER = { email: 'owner@team.example', name: 'Olu Owner', password: 'a long owner password' };
const FLAG = 'team_checkout';

test.use({ baseURL });
// One install, set up step by step: the tests of this file run in order.
test.describe.configure({ mode: 'serial' });

/** The set-up link's token, from the server's log (it prints a fresh one while nobody has used one). */
async function setupToken(): Promise<string> {
  let token = '';
  await expect
    .poll(() => {
      const matches = [...readFileSync(serverLog, 'utf8').matchAll(/\/setup\?token=([A-Za-z0-9]+)/g)];
      token = matches.at(-1)?.[1] ?? '';
      return token;
    }, { message: `a set-up link in ${serverLog}`, timeout: 20_000 })
    .not.toBe('');
  return token;
}

async function signedIn(browser: Browser, email: string, password: string, javaScript = true): Promise<Page> {
  const context = await browser.newContext({ baseURL, javaScriptEnabled: javaScript });
  const page = await context.newPage();
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(email, password);
  await expect(page).toHaveURL(/\/admin\/feature-flags/);
  return page;
}

test.beforeAll(() => {
  expect(baseURL, 'scripts/test starts a server on an empty database and sets FRESH_BASE_URL').not.toBe('');
  expect(serverLog, 'and ROLLGATE_FRESH_LOG, its log').not.toBe('');
});

test('the first admin arrives through the one-time set-up link, without JavaScript', async ({ browser }) => {
  const context = await browser.newContext({ baseURL, javaScriptEnabled: false });
  const page = await context.newPage();
  const token = await setupToken();

  // Nobody can sign in yet, and the sign-in page says where to look.
  await new LoginPage(page).goto();
  await expect(page.getByTestId('no-users-yet')).toContainText('set-up link');
  // Without the token there is nothing at /setup.
  expect((await page.goto('/setup'))?.status()).toBe(404);
  expect((await page.goto('/setup?token=not-the-token'))?.status()).toBe(404);

  await page.goto(`/setup?token=${token}`);
  const link = new LinkPage(page);
  await link.createFirstAdmin(ADMIN.email, ADMIN.name, 'too short');
  await expect(page.getByRole('alert').filter({ hasText: 'at least 12' })).toBeVisible();
  await link.createFirstAdmin(ADMIN.email, ADMIN.name, ADMIN.password);

  // Signed in, on an empty install that says what to do next.
  await expect(page).toHaveURL(/\/admin\/feature-flags/);
  await expect(page.getByTestId('current-user')).toHaveText(ADMIN.name);
  await expect(page.getByTestId('getting-started')).toBeVisible();
  // The link worked once.
  expect((await page.goto(`/setup?token=${token}`))?.status()).toBe(404);
  await context.close();
});

test('environments, a phase, a flag, a five-tier rollout signed off by an invited product owner, OFREP and the audit trail', async ({ browser, request }) => {
  test.setTimeout(120_000);
  const page = await signedIn(browser, ADMIN.email, ADMIN.password);
  acceptConfirmations(page);
  await new FlagListPage(page).waitForHydration();

  // Environments: development and production came with the first start; add staging between them.
  const environments = new EnvironmentsPage(page);
  await environments.goto();
  expect(await environments.order()).toEqual(['development', 'production']);
  await environments.add('staging', 'Staging');
  await expect(environments.row('staging')).toBeVisible();
  await environments.move('staging', 'up');
  await expect.poll(() => environments.order()).toEqual(['development', 'staging', 'production']);

  // A phase, and a flag in it.
  const phases = new PhasesPage(page);
  await phases.goto();
  await phases.create('checkout-revamp', 'Checkout revamp');
  await expect(phases.card('checkout-revamp')).toContainText('no flags');
  const flags = new FlagListPage(page);
  await flags.goto();
  await page.getByText('New flag', { exact: true }).click();
  const newFlag = page.getByRole('form', { name: 'New flag' });
  await newFlag.getByLabel('Key').fill(FLAG);
  await newFlag.getByLabel('Name').fill('Team checkout');
  await newFlag.getByLabel('Phase').selectOption({ label: 'Checkout revamp' });
  await newFlag.getByRole('button', { name: 'Create flag' }).click();
  await expect(flags.phase('checkout-revamp')).toContainText(FLAG);
  await expect(flags.toggle(FLAG, 'staging')).toHaveAttribute('aria-checked', 'false');

  // A five-tier rollout in staging, started and at 1%.
  await page.goto(`/admin/feature-flags/${FLAG}`);
  await flags.waitForHydration();
  const panel = new RolloutsPanel(page);
  await panel.plan({ environment: 'staging', plan: 'Five tiers' });
  await expect(panel.status('staging')).toHaveText('planned');
  await panel.actions('staging').press('Start', 'pilot in staging');
  await expect(panel.status('staging')).toHaveText('active');
  await page.getByRole('switch', { name: `${FLAG} in staging` }).click();
  await expect(page.getByRole('switch', { name: `${FLAG} in staging` })).toHaveAttribute('aria-checked', 'true');
  await panel.actions('staging').press('Advance to 1% (internal)', 'internal users first');
  await expect(panel.percent('staging')).toHaveText('1%');
  // 10% needs a product owner, and nobody holds that role yet.
  await panel.actions('staging').press('Advance to 10% (early adopters)');
  await expect(panel.refusal()).toContainText('missing sign-off: product_owner');

  // The admin invites a product owner, who sets a password through the link and signs off.
  const users = new UsersPage(page);
  await users.goto();
  const invitation = await users.add(OWNER.email, OWNER.name, 'viewer', ['Product owner']);
  expect(invitation).toContain('/set-password?token=');
  await expect(users.row(OWNER.email)).toContainText('waiting to set a password');
  const ownerContext = await browser.newContext({ baseURL });
  const owner = await ownerContext.newPage();
  acceptConfirmations(owner);
  await owner.goto(new URL(invitation).pathname + new URL(invitation).search);
  await expect(owner.getByTestId('set-password-greeting')).toContainText(OWNER.email);
  await new LinkPage(owner).choosePassword(OWNER.password);
  await expect(owner).toHaveURL(/\/admin\/feature-flags/);
  await expect(owner.getByTestId('current-user')).toHaveText(OWNER.name);
  const approvals = new ApprovalsPage(owner);
  await approvals.goto();
  await new FlagListPage(owner).waitForHydration();
  await approvals.approve(FLAG, 'staging', 'product_owner', 'Early adopters briefed');
  await expect(approvals.outcome()).toContainText(`Approved as product_owner: ${FLAG} in staging`);
  await ownerContext.close();

  // With the sign-off, the admin's advance goes through.
  await page.goto(`/admin/feature-flags/${FLAG}`);
  await flags.waitForHydration();
  await panel.actions('staging').press('Advance to 10% (early adopters)', 'signed off');
  await expect(panel.percent('staging')).toHaveText('10%');

  // An override for an organization nobody registered: any key the application sends can be targeted.
  const overrides = new OverridesCard(page);
  await overrides.add({ environment: 'staging', kind: 'Organization', key: 'acme-team', value: 'false', reason: 'waits for training' });
  await expect(overrides.row('staging', 'organization', 'acme-team').getByTestId('override-value')).toHaveText('false');

  // An evaluate token made on /admin/tokens, and an OFREP evaluation with it.
  const tokens = new TokensPage(page);
  await tokens.goto();
  await flags.waitForHydration();
  await tokens.create('team checkout service', 'evaluate', 'staging');
  const secret = await tokens.createdSecret().inputValue();
  expect(secret).toMatch(/^rgt_/);
  await expect
    .poll(async () => {
      const response = await request.post(`${baseURL}/ofrep/v1/evaluate/flags/${FLAG}`, {
        headers: { Authorization: `Bearer ${secret}` },
        data: { context: { targetingKey: 'customer-42' } },
      });
      return response.status() === 200 ? ((await response.json()) as { reason: string }).reason : `HTTP ${response.status()}`;
    }, { timeout: 5_000 })
    .toBe('SPLIT');
  await expect
    .poll(async () => {
      const response = await request.post(`${baseURL}/ofrep/v1/evaluate/flags/${FLAG}`, {
        headers: { Authorization: `Bearer ${secret}` },
        data: { context: { targetingKey: 'customer-42', organizationId: 'acme-team' } },
      });
      const answer = (await response.json()) as { value: unknown; reason: string };
      return `${answer.value} ${answer.reason}`;
    }, { timeout: 5_000 })
    .toBe('false TARGETING_MATCH');

  // The audit trail shows every step, in order.
  const actions = (await auditActions(page)).reverse();
  const expected = [
    'environment.created', // development, by the first start
    'user.created', // the first admin, through the set-up link
    'environment.created', // staging
    'environment.reordered',
    'phase.created',
    'flag.created',
    'rollout.created',
    'rollout.started',
    'flag.toggled',
    'rollout.advanced',
    'rollout.signoff_requested',
    'user.invited',
    'user.password_set',
    'rollout.signed_off',
    'rollout.advanced',
    'override.set',
    'token.created',
  ];
  let at = 0;
  for (const action of actions) if (action === expected[at]) at += 1;
  expect(at, `the audit trail in order: ${actions.join(', ')}`).toBe(expected.length);
});

test('the set-up pages work without JavaScript, and the server keeps its rules', async ({ browser }) => {
  const page = await signedIn(browser, ADMIN.email, ADMIN.password, false);
  acceptConfirmations(page);

  // An environment, renamed, then refused archiving while a token uses it.
  const environments = new EnvironmentsPage(page);
  await environments.goto();
  await environments.add('eu-prod', 'EU prod');
  await expect(environments.row('eu-prod')).toBeVisible();
  await environments.add('eu-prod', 'again');
  await expect(page.getByRole('alert').filter({ hasText: 'already exists' })).toBeVisible();
  await environments.rename('eu-prod', 'EU production');
  await expect(environments.row('eu-prod').getByLabel('Name of eu-prod')).toHaveValue('EU production');
  await environments.archive('staging');
  await expect(environments.archiveError()).toContainText('team checkout service');
  await environments.archive('eu-prod');
  await expect(environments.archived()).toContainText('eu-prod');
  await expect(environments.row('eu-prod')).toHaveCount(0);
  await environments.add('eu-prod', 'EU production');
  await expect(page.getByRole('alert').filter({ hasText: 'never reused' })).toBeVisible();

  // A phase without JavaScript, and a flag moved into it from its page.
  const phases = new PhasesPage(page);
  await phases.goto();
  await phases.create('later', 'Later', true);
  await expect(phases.card('later')).toContainText('requires the previous phase');
  await page.goto(`/admin/feature-flags/${FLAG}`);
  await page.getByRole('form', { name: 'Move to another phase' }).getByLabel('Phase').selectOption({ label: 'Later' });
  await page.getByRole('button', { name: 'Move', exact: true }).click();
  await expect(page.getByTestId('flag-phase')).toContainText('Later');

  // A user added and disabled without JavaScript; the link is shown on the page the form returns to.
  const users = new UsersPage(page);
  await users.goto();
  const link = await users.add('temp@team.example', 'Tem Porary', 'editor');
  expect(link).toContain('/set-password?token=');
  const visitor = await browser.newContext({ baseURL, javaScriptEnabled: false });
  const temp = await visitor.newPage();
  await temp.goto(new URL(link).pathname + new URL(link).search);
  await new LinkPage(temp).choosePassword('a long temporary password', 'a different long one');
  await expect(temp.getByRole('alert').filter({ hasText: 'the two passwords differ' })).toBeVisible();
  await new LinkPage(temp).choosePassword('a long temporary password');
  await expect(temp).toHaveURL(/\/admin\/feature-flags/);

  await users.goto();
  await users.open('temp@team.example');
  await page.getByRole('button', { name: 'Disable' }).click();
  await expect(page.getByTestId('user-status')).toHaveText('disabled');
  // Their session ended at once.
  await temp.goto('/admin/feature-flags');
  await expect(temp).toHaveURL(/\/login/);
  await visitor.close();

  // The only admin cannot demote themselves.
  await users.goto();
  await users.open(ADMIN.email);
  await page.getByRole('form', { name: 'Role and sign-off roles' }).getByLabel('Role', { exact: true }).selectOption('editor');
  await page.getByRole('button', { name: 'Save roles' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'last active admin' })).toBeVisible();
});

test('a viewer sees environments and phases but changes neither, and cannot manage people', async ({ browser }) => {
  const page = await signedIn(browser, OWNER.email, OWNER.password);

  await new EnvironmentsPage(page).goto();
  await expect(page.getByTestId('view-only')).toContainText('Only admins change environments');
  await expect(page.getByRole('button', { name: 'Add environment' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: /^Archive / })).toHaveCount(0);
  await new PhasesPage(page).goto();
  await expect(page.getByTestId('view-only')).toBeVisible();
  await expect(page.getByText('New phase', { exact: true })).toHaveCount(0);
  await new UsersPage(page).goto();
  await expect(page.getByRole('alert')).toContainText('cannot manage users');
  await expect(page.getByRole('button', { name: 'Add the user' })).toHaveCount(0);

  // Their own account: they change their own password.
  await page.goto('/admin/account');
  await page.getByLabel('Current password').fill(OWNER.password);
  await page.getByLabel('New password', { exact: true }).fill('an even longer owner password');
  await page.getByLabel('New password again').fill('an even longer owner password');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Your password is changed' })).toBeVisible();
  OWNER.password = 'an even longer owner password';
});

test('pages fit a phone: environments, phases and users at 390 px', async ({ browser }) => {
  const page = await signedIn(browser, ADMIN.email, ADMIN.password);
  await page.setViewportSize({ width: 390, height: 844 });
  for (const path of ['/admin/settings/environments', '/admin/phases', '/admin/users', '/admin/account']) {
    await page.goto(path);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, `${path} scrolls sideways`).toBeLessThanOrEqual(0);
  }
});
