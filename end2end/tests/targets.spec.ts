// Targets are keys: an override for an organization nobody registered, added on the flag's page and seen
// in "Evaluate for…" (with and without JavaScript, wide and narrow), and the registry that gives keys names.
// Works on crossDomainMessaging (on everywhere in the demo; no other spec changes it) and on keys of its own.
import { expect, test, type Page } from '@playwright/test';
import {
  EvaluateForPanel, FlagPage, LoginPage, OrganizationsPage, OverridesCard, PriorityUrlsPage, RolloutPage, RolloutsPanel,
  USERS, fitsWidth,
} from './pages';

const FLAG = 'crossDomainMessaging';

async function signIn(page: Page, who: string) {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(who);
}

async function waitForHydration(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

/** Asks "Evaluate for…" until the snapshot has caught up with the change just made (a NOTIFY away). */
async function expectAnswer(page: Page, ask: { organization?: string; customer?: string }, env: string, texts: string[]) {
  const panel = new EvaluateForPanel(page);
  await expect(async () => {
    await panel.evaluate(ask);
    for (const text of texts) await expect(panel.answer(env)).toContainText(text, { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
}

test('an override for an organization nobody registered is added, seen in "Evaluate for…", changed and removed', async ({ page }) => {
  acceptDialogs(page);
  await signIn(page, USERS.editor);
  await new FlagPage(page).goto(FLAG);
  await waitForHydration(page);
  const overrides = new OverridesCard(page);
  const key = 'e2e-unregistered-co';

  await overrides.add({ environment: 'production', kind: 'Organization', key, value: 'false', reason: 'e2e: pilot holds back' });

  const row = overrides.row('production', 'organization', key);
  await expect(row).toBeVisible();
  await expect(row.getByTestId('override-value')).toHaveText('false');
  await expect(row).toContainText('e2e: pilot holds back');
  await expectAnswer(page, { organization: key }, 'production', ['false', 'TARGETING_MATCH', `an override for organization ${key}`]);
  await expect(page.getByTestId('evaluate-for-result')).toContainText(`organization ${key} (no name registered)`);
  await expect(new EvaluateForPanel(page).answer('staging')).toContainText('true');

  // The same key twice is refused, next to the key field; a bad key too.
  await overrides.add({ environment: 'production', kind: 'Organization', key, value: 'true' });
  await expect(overrides.keyError()).toContainText('already has an override');
  await overrides.add({ environment: 'production', kind: 'Organization', key: 'not a key', value: 'true' });
  await expect(overrides.keyError()).toContainText('is not an organization key');

  await overrides.change('production', 'organization', key, 'true');
  await expect(row.getByTestId('override-value')).toHaveText('true');
  await overrides.remove('production', 'organization', key);
  await expect(row).toHaveCount(0);
  await expect(async () => {
    await new EvaluateForPanel(page).evaluate({ organization: key });
    await expect(new EvaluateForPanel(page).answer('production')).not.toContainText('TARGETING_MATCH', { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
  await expect(new EvaluateForPanel(page).answer('production')).toContainText('true');
});

test.describe('without JavaScript, on a phone-sized screen', () => {
  test.use({ javaScriptEnabled: false, viewport: { width: 390, height: 844 } });

  test('an override for an unregistered organization is added with plain forms and evaluated', async ({ page }) => {
    await signIn(page, USERS.editor);
    await new FlagPage(page).goto(FLAG);
    const overrides = new OverridesCard(page);
    const key = 'e2e-plain-form-co';

    await overrides.add({ environment: 'staging', kind: 'Organization', key, value: 'false', reason: 'no js' });

    await expect(page).toHaveURL(new RegExp(`/admin/feature-flags/${FLAG}`));
    await expect(overrides.row('staging', 'organization', key).getByTestId('override-value')).toHaveText('false');
    expect(await fitsWidth(page)).toBe(true);
    await expectAnswer(page, { organization: key }, 'staging', ['false', 'TARGETING_MATCH']);

    // A refusal comes back on the page, next to the field.
    await overrides.add({ environment: 'staging', kind: 'Organization', key, value: 'true' });
    await expect(overrides.keyError()).toContainText('already has an override');

    await overrides.remove('staging', 'organization', key);
    await expect(overrides.row('staging', 'organization', key)).toHaveCount(0);
  });

  test('the registry names a key in use, registers, renames and imports customers with plain forms', async ({ page }) => {
    await signIn(page, USERS.editor);
    const registry = new OrganizationsPage(page);
    await registry.goto();
    expect(await fitsWidth(page)).toBe(true);

    await registry.register('e2e-plain-org', 'Plain Org');
    await registry.search('e2e-plain-org');
    await expect(registry.organization('e2e-plain-org').getByTestId('organization-name')).toHaveText('Plain Org');
    await registry.rename('e2e-plain-org', 'Plain Organisation');
    await expect(registry.organization('e2e-plain-org').getByTestId('organization-name')).toHaveText('Plain Organisation');

    await registry.importCustomers('plain.csv', 'key,name,organization\ne2e-plain-1,Pat,e2e-plain-org\nbad key,X,e2e-plain-org\n');
    await expect(registry.count('inserted')).toHaveText('1');
    await expect(registry.count('rejected')).toHaveText('1');
    await expect(registry.importResult().getByRole('link', { name: /Download the report/ })).toBeVisible();
    expect(await fitsWidth(page)).toBe(true);
  });
});

test('the registry shows keys in use without a name, names them, and imports customers with a report', async ({ page }) => {
  await signIn(page, USERS.editor);
  // A key in use by an override, before anybody named it.
  await new FlagPage(page).goto(FLAG);
  await waitForHydration(page);
  const overrides = new OverridesCard(page);
  await overrides.add({ environment: 'development', kind: 'Organization', key: 'e2e-named-later', value: 'false' });
  await expect(overrides.row('development', 'organization', 'e2e-named-later')).toBeVisible();

  const registry = new OrganizationsPage(page);
  await registry.goto('?q=e2e-named-later');
  await waitForHydration(page);
  const row = registry.organization('e2e-named-later');
  await expect(row.getByTestId('no-name')).toHaveText('no name yet');
  await expect(row).toContainText('1');
  await registry.nameUnnamed('e2e-named-later', 'Named Later Ltd');
  await expect(row.getByTestId('organization-name')).toHaveText('Named Later Ltd');
  await expect(row.getByTestId('no-name')).toHaveCount(0);

  // The flag's page now shows the name beside the key.
  await new FlagPage(page).goto(FLAG);
  await expect(overrides.row('development', 'organization', 'e2e-named-later')).toContainText('Named Later Ltd');

  await registry.goto();
  await registry.importCustomers(
    'team.csv',
    'key,name,organization\ne2e-cust-1,Ada,e2e-named-later\ne2e-cust-2,Bo,\ne2e-cust-1,Ada L.,e2e-named-later\n',
  );
  await expect(registry.count('read')).toHaveText('3');
  await expect(registry.count('inserted')).toHaveText('1');
  await expect(registry.count('rejected')).toHaveText('1');
  await expect(registry.count('duplicates')).toHaveText('1');
  const report = await page.request.get(
    (await registry.importResult().getByRole('link', { name: /Download the report/ }).getAttribute('href'))!,
  );
  expect(await report.text()).toContain('the organization key is required');
  await registry.search('e2e-cust-1');
  await expect(registry.customer('e2e-cust-1')).toContainText('Ada L.');
  await expect(registry.customer('e2e-cust-1')).toContainText('Named Later Ltd');
});

test('a priority-URL account can be any organization key, and says when it has no name yet', async ({ page }) => {
  await signIn(page, USERS.editor);
  await page.goto('/admin/priority-urls');
  await page.getByLabel('Organization key').fill('e2e-new-account');
  await page.getByRole('button', { name: 'Open', exact: true }).click();

  await expect(page).toHaveURL(/\/admin\/priority-urls\/e2e-new-account/);
  await expect(page.getByTestId('account-unnamed')).toContainText('has no name yet');
  const urls = new PriorityUrlsPage(page);
  await urls.waitForHydration();
  await urls.importFile('new.csv', 'url,update_priority,page_type\nhttps://new.example/,high,home\n');
  await expect(urls.count('inserted')).toHaveText('1');
});

test('a viewer sees overrides and the registry but no forms to change them', async ({ page }) => {
  await signIn(page, USERS.viewer);
  await new FlagPage(page).goto('priority_urls_enabled');
  await expect(page.getByTestId('overrides-production').getByTestId('override-organization-seo-insights')).toBeVisible();
  await expect(page.getByRole('form', { name: 'Add an override' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: /^Remove the override/ })).toHaveCount(0);

  const registry = new OrganizationsPage(page);
  await registry.goto();
  await expect(registry.organization('acme').getByTestId('organization-name')).toHaveText('Acme Corporation');
  await expect(page.getByRole('form', { name: 'Register an organization' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Import customers' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: /^Rename / })).toHaveCount(0);
});

// Last: it leaves a completed rollout of the flag in development (everybody in, as before).
test('a rollout allow-list takes keys nobody registered, on the plan and on the rollout page', async ({ page }) => {
  acceptDialogs(page);
  await signIn(page, USERS.editor);
  await new FlagPage(page).goto(FLAG);
  await waitForHydration(page);
  const panel = new RolloutsPanel(page);

  await panel.plan({ environment: 'development', plan: 'Custom stages', stages: 'none | 0% | |\nall | 100%', organizations: 'e2e-allow-co' });
  await expect(panel.status('development')).toHaveText('planned');
  await panel.actions('development').press('Start');
  await expect(panel.status('development')).toHaveText('active');
  await expectAnswer(page, { organization: 'e2e-allow-co' }, 'development', ['true', 'TARGETING_MATCH', "on the rollout's allow-list"]);

  await panel.open('development');
  await waitForHydration(page);
  const form = page.getByRole('form', { name: 'Edit the plan' });
  if (!(await form.isVisible())) await page.getByText('Edit the plan', { exact: true }).click();
  await form.getByLabel('Allow-listed organizations').fill('e2e-allow-co, e2e-allow-two');
  await form.getByLabel('Allow-listed customers').fill('e2e.vip@example.com');
  await form.getByRole('button', { name: 'Save the plan' }).click();
  await expect(page.getByTestId('allow-organizations')).toContainText('e2e-allow-two');
  await expect(page.getByTestId('allow-customers')).toContainText('e2e.vip@example.com');

  await new FlagPage(page).goto(FLAG);
  await expectAnswer(page, { customer: 'e2e.vip@example.com' }, 'development', ['true', 'TARGETING_MATCH']);
  await expectAnswer(page, { organization: 'e2e-allow-two' }, 'development', ['true', 'TARGETING_MATCH']);
  // Done: everybody in, so the flag counts as fully rolled out for the phase gates of later specs.
  await panel.open('development');
  const rollout = new RolloutPage(page);
  await rollout.actions().press('Advance to 100% (all)');
  await expect(rollout.percent()).toHaveText('100%');
  await rollout.actions().press('Complete');
  await expect(rollout.status()).toHaveText('completed');
});

function acceptDialogs(page: Page) {
  page.on('dialog', (dialog) => dialog.accept());
}
