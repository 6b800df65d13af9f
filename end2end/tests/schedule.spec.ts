// Scheduled changes: an advance scheduled a few seconds ahead on /admin/schedule runs by itself (the
// worker passes every 5 s), through the same gates as a person, and the rollout starts.
// Works on parentStorage in staging, which no later spec touches.
import { expect, test } from '@playwright/test';
import { acceptConfirmations, FlagListPage, FlagPage, LoginPage, RolloutsPanel, USERS } from './pages';

const FLAG = 'parentStorage';

test('an advance scheduled a few seconds ahead happens by itself and is recorded', async ({ page }) => {
  test.setTimeout(90_000);
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.admin);
  acceptConfirmations(page);

  // A planned rollout with no sign-offs to wait for.
  await new FlagPage(page).goto(FLAG);
  await new FlagListPage(page).waitForHydration();
  const panel = new RolloutsPanel(page);
  await panel.plan({ environment: 'staging', plan: 'Custom stages', stages: 'first | 10% | |\nall | 100%' });
  await expect(panel.status('staging')).toHaveText('planned');

  // Schedule its advance (a planned rollout's advance is its start) 6 seconds from now, in UTC.
  await page.goto('/admin/schedule');
  await new FlagListPage(page).waitForHydration();
  const form = page.getByRole('form', { name: 'Schedule a change' });
  await form.getByLabel('Flag').selectOption(FLAG);
  await form.getByLabel('Environment').selectOption('staging');
  await form.getByLabel('Action').selectOption('advance');
  // Never on a whole minute: Chromium shows 12:34:00 as 12:34, and Playwright's fill then calls the value
  // malformed.
  let when = Date.now() + 6_000;
  if (new Date(when).getUTCSeconds() === 0) when += 1_000;
  const at = new Date(when).toISOString().slice(0, 19);
  await form.getByLabel('When (UTC)').fill(at);
  await form.getByLabel('Reason').fill('e2e: start after the deploy');
  await form.getByRole('button', { name: 'Schedule' }).click();
  const row = page.getByTestId('schedule-table').getByRole('row').filter({ hasText: 'e2e: start after the deploy' });
  await expect(row).toContainText('pending');

  // It runs by itself within a worker pass or two.
  await expect(async () => {
    await page.reload();
    await expect(row).toContainText('done', { timeout: 1_000 });
  }).toPass({ timeout: 40_000 });

  await new FlagPage(page).goto(FLAG);
  await expect(page.getByTestId('flag-schedule')).toContainText('done');
  await expect(panel.status('staging')).toHaveText('active');
  await expect(panel.percent('staging')).toHaveText('10%');
  await panel.open('staging');
  const started = page.getByTestId('rollout-timeline').getByRole('row').filter({ hasText: 'system:schedule' }).first();
  await expect(started).toContainText('started');
});
