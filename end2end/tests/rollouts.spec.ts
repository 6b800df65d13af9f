// Staged rollouts in the browser: the buttons, the gates the server enforces, sign-offs from a second
// user, and what applications are served at each step. Each test works on flags no other spec touches:
// FEATURE_FLAG_JOB_HEARTBEAT (production and staging) and redis_streams_media_cluster_enabled (staging).
import { expect, test, type APIRequestContext } from '@playwright/test';
import {
  acceptConfirmations,
  ApprovalsPage,
  FlagListPage,
  FlagPage,
  LoginPage,
  PRODUCT_OWNER,
  RolloutPage,
  RolloutsPanel,
  USERS,
} from './pages';

const token = process.env.ROLLGATE_TEST_TOKEN ?? '';
const HEARTBEAT = 'FEATURE_FLAG_JOB_HEARTBEAT';
const MEDIA = 'redis_streams_media_cluster_enabled';
/** Every demo customer: cust-0001 … cust-0300. */
const CUSTOMERS = Array.from({ length: 300 }, (_, i) => `cust-${String(i + 1).padStart(4, '0')}`);

type Answer = { value: unknown; reason: string; version: number };

async function evaluate(request: APIRequestContext, flag: string, customer: string): Promise<Answer> {
  const response = await request.get(`/api/v1/flags/${flag}?customer_id=${customer}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  expect(response.status()).toBe(200);
  return (await response.json()) as Answer;
}

/** The customers the production evaluation API serves `true`, all read from one snapshot version. */
async function customersIn(request: APIRequestContext, flag: string): Promise<{ version: number; ids: Set<string> }> {
  for (;;) {
    const answers = await Promise.all(CUSTOMERS.map((c) => evaluate(request, flag, c)));
    const versions = new Set(answers.map((a) => a.version));
    if (versions.size === 1) {
      const ids = new Set(CUSTOMERS.filter((_, i) => answers[i].value === true));
      return { version: answers[0].version, ids };
    }
    // A new snapshot arrived in the middle: read again.
  }
}

/**
 * The customer set once the change just made has reached the evaluation snapshot (which follows the
 * database by NOTIFY, a moment later): `arrived` tells that set from the one before the change.
 */
async function customersOnceChanged(request: APIRequestContext, flag: string, arrived: (ids: Set<string>) => boolean, change: string) {
  let last = { version: 0, ids: new Set<string>() };
  await expect
    .poll(async () => {
      last = await customersIn(request, flag);
      return arrived(last.ids);
    }, { message: `the evaluation API never showed: ${change}`, timeout: 5000 })
    .toBe(true);
  return last;
}

test.beforeAll(() => {
  expect(token, 'scripts/test creates a production evaluate token in ROLLGATE_TEST_TOKEN').not.toBe('');
});

test('a five-tier rollout: refused without the sign-off, signed by the product owner, advanced, rolled back', async ({ browser, page, request }) => {
  test.setTimeout(120_000);
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.editor);
  const asked = acceptConfirmations(page);
  const flagPage = new FlagPage(page);
  const panel = new RolloutsPanel(page);
  await flagPage.goto(HEARTBEAT);
  await new FlagListPage(page).waitForHydration();

  // Plan and start: stage 1 serves 0%, so nobody is in yet.
  await panel.plan({ environment: 'production', plan: 'Five tiers' });
  await expect(panel.status('production')).toHaveText('planned');
  await panel.actions('production').press('Start', 'heartbeat pilot');
  await expect(panel.status('production')).toHaveText('active');
  await expect(panel.percent('production')).toHaveText('0%');
  expect(asked.at(-1)).toContain(`Start the rollout of ${HEARTBEAT} in production?`);

  // The kill switch decides before any rollout: switch it on, and the rollout decides who is in.
  await page.getByRole('switch', { name: `${HEARTBEAT} in production` }).click();
  await expect(page.getByRole('switch', { name: `${HEARTBEAT} in production` })).toHaveAttribute('aria-checked', 'true');
  await expect.poll(async () => (await evaluate(request, HEARTBEAT, 'cust-0001')).reason, { timeout: 5000 }).toBe('SPLIT');
  expect((await customersIn(request, HEARTBEAT)).ids.size).toBe(0);

  // 0% → 1%: no sign-off needed.
  await panel.actions('production').press('Advance to 1% (internal)', 'internal users first');
  await expect(panel.percent('production')).toHaveText('1%');
  const atOne = await customersOnceChanged(request, HEARTBEAT, (ids) => ids.size > 0, 'anybody in at 1%');

  // 1% → 10% needs the product owner: refused, and the page says exactly what is missing.
  await panel.actions('production').press('Advance to 10% (early adopters)');
  await expect(panel.refusal()).toContainText('missing sign-off: product_owner');
  await expect(panel.refusal()).toContainText(`${HEARTBEAT} in production`);
  await expect(panel.percent('production')).toHaveText('1%');
  await expect(panel.card('production').getByTestId('gate-message')).toHaveText('missing sign-off: product_owner');

  // The product owner, in a browser of their own, finds it in the queue and approves it.
  const poContext = await browser.newContext();
  const po = await poContext.newPage();
  await new LoginPage(po).goto();
  await new LoginPage(po).signIn(PRODUCT_OWNER);
  acceptConfirmations(po);
  const approvals = new ApprovalsPage(po);
  await approvals.goto();
  await new FlagListPage(po).waitForHydration();
  const item = approvals.item(HEARTBEAT, 'production', 'product_owner');
  await expect(item).toContainText('10% (early adopters)');
  await expect(item).toContainText(USERS.editor);
  await expect(item).toContainText('1%, active');
  // A rejection needs a reason.
  await approvals.reject(HEARTBEAT, 'production', 'product_owner', '');
  await expect(approvals.error()).toContainText('the comment is required');
  await expect(item).toBeVisible();
  await approvals.approve(HEARTBEAT, 'production', 'product_owner', 'Early adopters briefed');
  await expect(approvals.outcome()).toContainText(`Approved as product_owner: ${HEARTBEAT} in production`);
  await expect(item).toHaveCount(0);
  await poContext.close();

  // The editor, on the rollout's page, sees the sign-off and advances.
  await panel.open('production');
  const rollout = new RolloutPage(page);
  await expect(rollout.status()).toHaveText('active');
  const signed = rollout.signoffs().getByRole('row').filter({ hasText: 'product_owner' });
  await expect(signed).toContainText(PRODUCT_OWNER);
  await expect(signed).toContainText('approved');
  await expect(signed).toContainText('Early adopters briefed');
  await expect(rollout.nextGate()).toContainText('Ready to advance');
  // The page's count of who is in agrees with what applications are served.
  await expect(rollout.population()).toContainText(`${atOne.ids.size} in, ${300 - atOne.ids.size} out, of 300 known`);
  const preview = await rollout.population().innerText();
  await new FlagListPage(page).waitForHydration();
  await rollout.actions().press('Advance to 10% (early adopters)', 'signed off');
  await expect(rollout.percent()).toHaveText('10%');
  await expect(rollout.stage(2)).toHaveAttribute('aria-current', 'step');

  // Monotonic: whoever was in at 1% is in at 10%, and more came in.
  const atTen = await customersOnceChanged(request, HEARTBEAT, (ids) => ids.size > atOne.ids.size, 'more customers in at 10%');
  for (const id of atOne.ids) expect(atTen.ids, `${id} was in at 1%`).toContain(id);
  expect(atTen.ids.size).toBeGreaterThanOrEqual(atOne.ids.size + 10);
  // …and the preview at 1% named how many the advance would add.
  expect(preview).toContain(`10% would add ${atTen.ids.size - atOne.ids.size} customers`);
  await expect(rollout.population()).toContainText(`${atTen.ids.size} in, ${300 - atTen.ids.size} out, of 300 known`);

  // Roll back to 0%: the rollout ends and nobody is in.
  await rollout.actions().rollBack('0%: end the rollout', 'heartbeats flood the logs');
  await expect(rollout.status()).toHaveText('rolled back');
  await expect(rollout.percent()).toHaveText('0%');
  await customersOnceChanged(request, HEARTBEAT, (ids) => ids.size === 0, 'nobody in after the rollback');

  // The timeline has every step, newest first.
  const steps = rollout.timeline().getByRole('row');
  await expect(steps.nth(1)).toContainText('rolled back');
  await expect(steps.nth(1)).toContainText('10% → 0%');
  await expect(steps.nth(1)).toContainText('heartbeats flood the logs');
  await expect(steps.nth(2)).toContainText('advanced');
  await expect(steps.nth(2)).toContainText('1% → 10%');
  await expect(steps.nth(3)).toContainText('approved as product_owner (stage 3)');
  await expect(steps.nth(3)).toContainText(PRODUCT_OWNER);
  await expect(steps.nth(4)).toContainText('asked for sign-off: product_owner (stage 3)');
  await expect(steps.nth(4)).toContainText(USERS.editor);
  await expect(steps.nth(5)).toContainText('0% → 1%');
  await expect(steps.nth(5)).toContainText('internal users first');
  await expect(steps.nth(6)).toContainText('started');
  await expect(steps.nth(7)).toContainText('planned from the five_tier template');
  await expect(steps).toHaveCount(8);

  // So has the audit log.
  await page.goto(`/admin/audit?flag=${HEARTBEAT}`);
  const audit = page.getByTestId('audit-table');
  for (const action of ['rollout.created', 'rollout.started', 'rollout.signoff_requested', 'rollout.signed_off', 'rollout.rolled_back']) {
    await expect(audit.getByRole('row').filter({ hasText: action })).toHaveCount(1);
  }
  await expect(audit.getByRole('row').filter({ hasText: 'rollout.advanced' })).toHaveCount(2);
});

test('without JavaScript the buttons still work, and a refusal still says what is missing', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.editor);
  const panel = new RolloutsPanel(page);
  await new FlagPage(page).goto(MEDIA);

  // A mistake comes back next to its field.
  await panel.plan({ environment: 'staging', plan: 'Five tiers', customers: 'cust-0007, bad/key' });
  await expect(panel.planForm().getByLabel('Allow-listed customers')).toHaveAccessibleDescription(/"bad\/key" is not a customer key/);
  await expect(panel.card('staging')).toContainText('No rollout yet.');

  await panel.plan({ environment: 'staging', plan: 'Five tiers', customers: 'cust-0007' });
  await expect(panel.status('staging')).toHaveText('planned');
  await panel.actions('staging').press('Start');
  await expect(page).toHaveURL(new RegExp(`/admin/feature-flags/${MEDIA}\\??$`));
  await expect(panel.status('staging')).toHaveText('active');
  await panel.actions('staging').press('Advance to 1% (internal)');
  await expect(panel.percent('staging')).toHaveText('1%');

  await panel.actions('staging').press('Advance to 10% (early adopters)');
  await expect(panel.refusal()).toContainText(`Cannot advance ${MEDIA} in staging: missing sign-off: product_owner`);
  await expect(panel.percent('staging')).toHaveText('1%');

  // Back to an earlier stage: the rollout stays live there.
  await panel.actions('staging').rollBack('stage 1: disabled (0%)', 'not yet');
  await expect(panel.percent('staging')).toHaveText('0%');
  await expect(panel.status('staging')).toHaveText('active');
  await expect(panel.refusal()).toHaveCount(0);
  await context.close();
});

test('the requester cannot sign their own request, and an admin overrides a gate only with a reason', async ({ browser, page }) => {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.editor);
  acceptConfirmations(page);
  const panel = new RolloutsPanel(page);
  await new FlagPage(page).goto(HEARTBEAT);
  await new FlagListPage(page).waitForHydration();

  // The canary's first stage needs the ops on-call, which the demo editor is; asking for it is refused.
  await panel.plan({ environment: 'staging', plan: 'Canary' });
  await panel.actions('staging').press('Start');
  await expect(panel.refusal()).toContainText('missing sign-off: ops_oncall');

  const approvals = new ApprovalsPage(page);
  await approvals.goto();
  const own = approvals.item(HEARTBEAT, 'staging', 'ops_oncall');
  await expect(own).toContainText('you asked for this');
  await expect(own.getByRole('button', { name: 'Approve as ops_oncall' })).toBeDisabled();
  await expect(own.getByRole('button', { name: 'Reject as ops_oncall' })).toBeDisabled();

  // An admin (who holds dev_lead, not ops_oncall) overrides the gate, but not without a reason.
  const adminContext = await browser.newContext();
  const admin = await adminContext.newPage();
  await new LoginPage(admin).goto();
  await new LoginPage(admin).signIn(USERS.admin);
  acceptConfirmations(admin);
  await new FlagPage(admin).goto(HEARTBEAT);
  const adminPanel = new RolloutsPanel(admin);
  await adminPanel.open('staging');
  const rollout = new RolloutPage(admin);
  await new FlagListPage(admin).waitForHydration();
  await rollout.actions().overrideGates('', 'Start');
  await expect(rollout.refusal()).toContainText('an override needs a written reason');
  await expect(rollout.status()).toHaveText('planned');

  await rollout.actions().overrideGates('ops on-call is away; approved by phone', 'Start');
  await expect(rollout.status()).toHaveText('active');
  await expect(rollout.percent()).toHaveText('10%');
  const started = rollout.timeline().getByRole('row').nth(1);
  await expect(started).toContainText('started');
  await expect(started).toContainText('gate overridden');
  await expect(started).toContainText('ops on-call is away; approved by phone');
  // The canary soaks 30 minutes at 10% before it may go on.
  await expect(rollout.soakCountdown()).toContainText(/soak ends in (29m|30m)/);
  await adminContext.close();
});

test('a user without sign-off roles is told why the queue is empty, and cannot press the buttons', async ({ page }) => {
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.viewer);
  const approvals = new ApprovalsPage(page);
  await approvals.goto();
  await expect(approvals.empty()).toContainText('You hold no sign-off roles');

  await new FlagPage(page).goto(HEARTBEAT);
  const panel = new RolloutsPanel(page);
  await expect(panel.card('staging').getByRole('button')).toHaveCount(0);
  await expect(page.getByText('Plan a rollout', { exact: true })).toHaveCount(0);
  const response = await page.request.post('/api/rollout_act', { form: { rollout: '1', action: 'pause' } });
  expect(response.status()).toBe(403);
});

test('the flag list shows a live rollout and advances or rolls it back from a compact form', async ({ page }) => {
  const flag = 'phase2_enhanced_storage';
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.editor);
  const asked = acceptConfirmations(page);
  const panel = new RolloutsPanel(page);
  await new FlagPage(page).goto(flag);
  await new FlagListPage(page).waitForHydration();
  await panel.plan({ environment: 'staging', plan: 'Five tiers' });
  await panel.actions('staging').press('Start');
  await expect(panel.status('staging')).toHaveText('active');

  const list = new FlagListPage(page);
  await list.goto(`?q=${flag}`);
  await list.waitForHydration();
  const chip = list.rolloutChip(flag, 'staging');
  await expect(chip).toContainText('active 0%');

  await chip.getByRole('button', { name: `Advance ${flag} in staging to 1%` }).click();
  await expect(chip).toContainText('active 1%');
  expect(asked.at(-1)).toBe(`Advance ${flag} in staging from 0% to 1%?`);

  await chip.getByRole('button', { name: `Roll back ${flag} in staging to 0%` }).click();
  await expect(chip).toHaveCount(0);
  await expect(list.toggle(flag, 'staging')).toBeVisible();
});

test('custom stages are typed as lines, and editing the plan voids the sign-offs given', async ({ browser, page }) => {
  const flag = 'phase2_enhanced_storage';
  await new LoginPage(page).goto();
  await new LoginPage(page).signIn(USERS.editor);
  acceptConfirmations(page);
  const panel = new RolloutsPanel(page);
  await new FlagPage(page).goto(flag);
  await new FlagListPage(page).waitForHydration();

  await panel.plan({ environment: 'development', plan: 'Custom stages', stages: 'pilot | 2% | |\nwide | 40 | product_owner | 1h\nall | 100%' });
  await expect(panel.status('development')).toHaveText('planned');
  await panel.open('development');
  const rollout = new RolloutPage(page);
  await expect(rollout.stage(1)).toContainText('40%');
  await expect(rollout.stage(1)).toContainText('product_owner');
  await rollout.actions().press('Start');
  await expect(rollout.percent()).toHaveText('2%');

  // The product owner approves the 40% stage in their own session...
  const poContext = await browser.newContext();
  const po = await poContext.newPage();
  await new LoginPage(po).goto();
  await new LoginPage(po).signIn(PRODUCT_OWNER);
  acceptConfirmations(po);
  const approvals = new ApprovalsPage(po);
  await approvals.goto();
  await new FlagListPage(po).waitForHydration();
  await approvals.approve(flag, 'development', 'product_owner', 'fine by me');
  await expect(approvals.outcome()).toContainText(`Approved as product_owner: ${flag} in development`);
  await page.reload();
  await expect(rollout.signoffs()).toContainText('fine by me');

  // ...then the plan changes: the approval no longer counts, and the advance waits for a new one.
  await rollout.editPlan('pilot | 2% | |\nwide | 30 | product_owner | 0\nall | 100%', 'smaller second step');
  await expect(rollout.stage(1)).toContainText('30%');
  await expect(rollout.nextGate()).toContainText('missing sign-off: product_owner');
  await expect(rollout.timeline()).toContainText('smaller second step');
  await poContext.close();
});
