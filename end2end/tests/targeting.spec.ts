// Targeting rules, segments and prerequisites, set up through the pages: a segment on /admin/segments, rules
// on a flag's page (added, reordered, deleted), and "Evaluate for…" naming the rule and segment that
// decided; with and without JavaScript, wide and narrow. Works on flags no other spec uses
// (ENABLE_PART_CATEGORIES, ENABLE_TG_ADMIN_NOTIFS, turned on in development here) and segments of its own.
import { expect, test, type Page } from '@playwright/test';
import { EvaluateForPanel, FlagPage, LoginPage, SegmentsPage, TargetingCard, USERS, acceptConfirmations, fitsWidth } from './pages';

async function signIn(page: Page, who: string) {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(who);
}

async function waitForHydration(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

/** Asks "Evaluate for…" until the snapshot has caught up with the change just made (a NOTIFY away). */
async function expectAnswer(page: Page, attributes: string, env: string, texts: string[]) {
  const panel = new EvaluateForPanel(page);
  await expect(async () => {
    await panel.evaluate({ customer: 'cust-e2e-1', attributes });
    for (const text of texts) await expect(panel.answer(env)).toContainText(text, { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
}

async function turnOn(page: Page, flag: string, env: string) {
  const toggle = page.getByRole('switch', { name: `${flag} in ${env}` }).first();
  if ((await toggle.getAttribute('aria-checked')) !== 'true') {
    await toggle.click();
    await expect(toggle).toHaveAttribute('aria-checked', 'true');
  }
}

test('a segment and ordered rules decide answers, and "Evaluate for…" names the rule and segment', async ({ page }) => {
  acceptConfirmations(page);
  const FLAG = 'ENABLE_PART_CATEGORIES';
  await signIn(page, USERS.editor);

  const segments = new SegmentsPage(page);
  await segments.goto();
  await waitForHydration(page);
  await segments.create({ key: 'e2e-new-app', name: 'New app versions', field: 'app_version', operator: 'SEMVER_GTE', values: '2.3.0' });
  await expect(segments.outcome()).toContainText('Saved the segment e2e-new-app');
  await expect(segments.segment('e2e-new-app')).toContainText('app_version version >= 2.3.0');
  await expect(segments.segment('e2e-new-app').getByTestId('segment-unused')).toBeVisible();

  await new FlagPage(page).goto(FLAG);
  await waitForHydration(page);
  await turnOn(page, FLAG, 'development');
  const targeting = new TargetingCard(page);
  await targeting.addRule('development', { name: 'enterprise', conditions: [['plan', 'IN', 'enterprise, business']], serve: 'on' });
  await expect(targeting.outcome()).toContainText('Added the rule enterprise in development');
  await targeting.addRule('development', { name: 'new app', segments: ['e2e-new-app'], serve: 'on' });
  await expect(targeting.rule('development', 'new app')).toContainText('in segment e2e-new-app');
  await targeting.addRule('development', { name: 'everyone else', serve: 'off' });
  await expect(targeting.rules('development')).toHaveCount(3);

  await expectAnswer(page, 'plan=enterprise', 'development', ['true', 'TARGETING_MATCH', 'rule 1 (enterprise) matched']);
  await expectAnswer(page, 'app_version=2.10.0', 'development', ['true', 'rule 2 (new app) matched, with segment e2e-new-app']);
  await expectAnswer(page, 'app_version=2.2.9', 'development', ['false', 'rule 3 (everyone else) matched']);

  // Order decides: "everyone else" moved above "new app" takes the new app versions too.
  await targeting.move('development', 'everyone else', 'up');
  await expect(targeting.rules('development').nth(1)).toContainText('everyone else');
  await expectAnswer(page, 'app_version=2.10.0', 'development', ['false', 'rule 2 (everyone else) matched']);

  // A bad condition is refused, naming the rule and the condition, and nothing changes.
  await targeting.addRule('development', { name: 'broken', conditions: [['email', 'REGEX', '(unclosed']], serve: 'on' });
  await expect(targeting.error()).toContainText('rule 4 (broken), constraint 1: the expression does not compile');
  await expect(targeting.rules('development')).toHaveCount(3);

  // The segment page lists the rule that uses it, and refuses to delete it while it does.
  await segments.goto();
  await waitForHydration(page);
  await expect(segments.segment('e2e-new-app').getByTestId('segment-used-by')).toContainText(`${FLAG} in development, rule new app`);
  await segments.delete('e2e-new-app');
  await expect(segments.error()).toContainText('is used by');

  await new FlagPage(page).goto(FLAG);
  await waitForHydration(page);
  for (const name of ['new app', 'everyone else', 'enterprise']) {
    await targeting.delete('development', name);
    await expect(targeting.rule('development', name)).toHaveCount(0);
  }
  await segments.goto();
  await waitForHydration(page);
  await segments.delete('e2e-new-app');
  await expect(segments.outcome()).toContainText('Deleted the segment e2e-new-app');
});

test.describe('without JavaScript, on a phone-sized screen', () => {
  test.use({ javaScriptEnabled: false, viewport: { width: 390, height: 844 } });

  test('a segment, a rule and a prerequisite are set with plain forms and decide the answer', async ({ page }) => {
    const FLAG = 'ENABLE_TG_ADMIN_NOTIFS';
    await signIn(page, USERS.editor);
    const segments = new SegmentsPage(page);
    await segments.goto();
    await segments.create({ key: 'e2e-staff', name: 'Staff', field: 'email', operator: 'STR_ENDS_WITH', values: '@rollgate.test' });
    await expect(segments.segment('e2e-staff')).toContainText('email ends with @rollgate.test');
    expect(await fitsWidth(page)).toBe(true);

    await new FlagPage(page).goto(FLAG);
    await page.getByRole('switch', { name: `${FLAG} in development` }).first().click();
    const targeting = new TargetingCard(page);
    await targeting.addRule('development', { name: 'staff', segments: ['e2e-staff'], serve: 'on' });
    await expect(targeting.rule('development', 'staff')).toContainText('in segment e2e-staff');
    await targeting.addRule('development', { name: 'others', serve: 'off' });
    await expect(targeting.rules('development')).toHaveCount(2);
    expect(await fitsWidth(page)).toBe(true);
    await expectAnswer(page, 'email=ops@rollgate.test', 'development', ['true', 'rule 1 (staff) matched, with segment e2e-staff']);

    // A prerequisite that is off turns the flag off, saying which.
    await targeting.addPrerequisite('development', 'ENABLE_TG_MECH_NOTIFS', 'on');
    await expect(targeting.environment('development').getByTestId('prerequisite-ENABLE_TG_MECH_NOTIFS')).toContainText('ENABLE_TG_MECH_NOTIFS on');
    await expectAnswer(page, 'email=ops@rollgate.test', 'development', ['false', 'PREREQUISITE_FAILED', 'the prerequisite ENABLE_TG_MECH_NOTIFS']);

    await targeting.environment('development').getByRole('button', { name: 'Remove the prerequisite ENABLE_TG_MECH_NOTIFS in development' }).click();
    for (const name of ['staff', 'others']) await targeting.delete('development', name);
    await expect(targeting.rules('development')).toHaveCount(0);
  });
});
