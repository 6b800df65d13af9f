// Rollout audiences in the browser: a rollout planned for a segment and a condition, shown in words on the
// rollout page, counted in "Who is in" and listed on the segment; and, without JavaScript on a phone-sized
// screen, an audience planned and then changed in the plan editor. Works on phase2_enhanced_storage in
// production and staging (rollouts.spec.ts uses it in development, and in staging after ending what this
// leaves there), with segments of its own; each test ends its rollout, so it leaves no live one behind.
import { expect, test, type Page } from '@playwright/test';
import { FlagPage, LoginPage, RolloutPage, RolloutsPanel, SegmentsPage, USERS, acceptConfirmations, fitsWidth } from './pages';

const FLAG = 'phase2_enhanced_storage';
/** Starts at 0%, so that starting is not held by the phase gate; nothing here is started anyway. */
const STAGES = 'pilot | 0% | |\nall | 100%';

async function signIn(page: Page) {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.editor);
}

async function waitForHydration(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

test('a rollout planned for a segment and a condition says so, counts it, and keeps the segment in use', async ({ page }) => {
  acceptConfirmations(page);
  await signIn(page);
  const segments = new SegmentsPage(page);
  await segments.goto();
  await waitForHydration(page);
  await segments.create({ key: 'e2e-early-customers', name: 'Early customers', field: 'customer_id', operator: 'STR_STARTS_WITH', values: 'cust-00' });
  await expect(segments.outcome()).toContainText('Saved the segment e2e-early-customers');

  await new FlagPage(page).goto(FLAG);
  await waitForHydration(page);
  const panel = new RolloutsPanel(page);
  await panel.plan({
    environment: 'production',
    plan: 'Custom stages',
    stages: STAGES,
    audience: { conditions: [['organization_id', 'IN', 'acme']], segments: ['e2e-early-customers'] },
  });
  await expect(panel.status('production')).toHaveText('planned');
  await expect(panel.card('production').getByTestId('rollout-audience')).toContainText(
    'only units in segment e2e-early-customers and organization_id is one of acme',
  );

  await panel.open('production');
  const rollout = new RolloutPage(page);
  await waitForHydration(page);
  await expect(rollout.audience()).toHaveText('only units in segment e2e-early-customers and organization_id is one of acme');
  await expect(rollout.population().getByTestId('population-audience')).toContainText('of 300 known customers');

  // The segment lists the rollout, and cannot be deleted while the rollout decides answers.
  await segments.goto();
  await waitForHydration(page);
  const usedBy = segments.segment('e2e-early-customers').getByTestId('segment-used-by');
  await expect(usedBy).toContainText(`rollout of ${FLAG} in production`);
  await segments.delete('e2e-early-customers');
  await expect(segments.error()).toContainText(`the rollout of ${FLAG} in production`);

  await usedBy.getByRole('link', { name: `rollout of ${FLAG} in production` }).click();
  await waitForHydration(page);
  await rollout.actions().press('Cancel the plan', 'audience checked');
  await expect(rollout.status()).toHaveText('rolled back');
});

test.describe('without JavaScript, on a phone-sized screen', () => {
  test.use({ javaScriptEnabled: false, viewport: { width: 390, height: 844 } });

  test('an audience is planned with plain forms and changed in the plan editor', async ({ page }) => {
    await signIn(page);
    const segments = new SegmentsPage(page);
    await segments.goto();
    await segments.create({ key: 'e2e-acme', name: 'Acme', field: 'organization_id', operator: 'IN', values: 'acme' });
    await expect(segments.segment('e2e-acme')).toContainText('organization_id is one of acme');

    await new FlagPage(page).goto(FLAG);
    const panel = new RolloutsPanel(page);
    await panel.plan({ environment: 'staging', plan: 'Custom stages', stages: STAGES, audience: { conditions: [['app_version', 'SEMVER_GTE', '2.3.0']] } });
    await expect(panel.status('staging')).toHaveText('planned');
    await expect(panel.card('staging').getByTestId('rollout-audience')).toContainText('only units where app_version version >= 2.3.0');
    expect(await fitsWidth(page)).toBe(true);

    await panel.open('staging');
    const rollout = new RolloutPage(page);
    await expect(rollout.audience()).toHaveText('only units where app_version version >= 2.3.0');
    // The editor shows the audience as it is; a segment added to it is saved as a new version.
    await rollout.editPlan(STAGES, 'acme only', { segments: ['e2e-acme'] });
    await expect(rollout.audience()).toHaveText('only units in segment e2e-acme and app_version version >= 2.3.0');
    await expect(rollout.timeline()).toContainText('acme only');
    expect(await fitsWidth(page)).toBe(true);

    await rollout.actions().press('Cancel the plan');
    await expect(rollout.status()).toHaveText('rolled back');
  });
});
