// Page objects: every locator goes through a role, a label or a test id.
import { expect, type Locator, type Page } from '@playwright/test';

export const DEMO_PASSWORD = process.env.ROLLGATE_DEMO_PASSWORD ?? 'demo-password-for-tests';
export const USERS = {
  admin: 'admin@rollgate.local',
  editor: 'editor@rollgate.local',
  viewer: 'viewer@rollgate.local',
};

export class LoginPage {
  constructor(private readonly page: Page) {}

  async goto() {
    await this.page.goto('/login');
  }

  async signIn(email: string, password = DEMO_PASSWORD) {
    await this.page.getByLabel('Email').fill(email);
    await this.page.getByLabel('Password').fill(password);
    await this.page.getByRole('button', { name: 'Sign in' }).click();
  }
}

export class FlagListPage {
  constructor(private readonly page: Page) {}

  async goto(query = '') {
    await this.page.goto(`/admin/feature-flags${query}`);
  }

  /** Waits until the wasm bundle has hydrated the page, so clicks go through the client. */
  async waitForHydration() {
    await expect(this.page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  }

  phase(key: string): Locator {
    return this.page.getByTestId(`phase-${key}`);
  }

  phaseHeadings(): Locator {
    return this.page.getByRole('heading', { level: 2 });
  }

  row(flag: string): Locator {
    return this.page.getByTestId(`flag-row-${flag}`);
  }

  toggle(flag: string, env: string): Locator {
    return this.page.getByRole('switch', { name: `${flag} in ${env}` });
  }

  /** A live rollout in a flag's cell: its status and percentage, and its compact form. */
  rolloutChip(flag: string, env: string): Locator {
    return this.page.getByTestId(`rollout-chip-${flag}-${env}`);
  }

  async signOut() {
    await this.page.getByRole('button', { name: 'Sign out' }).click();
  }
}

export class FlagPage {
  constructor(private readonly page: Page) {}

  async goto(flag: string) {
    await this.page.goto(`/admin/feature-flags/${flag}`);
  }

  /** Whether browser pages and apps with a frontend token see the flag, and the button that changes it. */
  frontendVisibility(): Locator {
    return this.page.getByTestId('frontend-visibility');
  }

  async showToFrontends() {
    await this.page.getByRole('button', { name: 'Show to frontends' }).click();
    await expect(this.frontendVisibility()).toContainText('Yes');
  }

  history(): Locator {
    return this.page.getByTestId('flag-history');
  }
}

export class TokensPage {
  constructor(private readonly page: Page) {}

  async goto() {
    await this.page.goto('/admin/tokens');
  }

  async create(name: string, scope: 'evaluate' | 'frontend' | 'admin', target: string, origins: string[] = []) {
    await this.page.getByLabel('Name').fill(name);
    if (scope === 'evaluate') {
      await this.page.getByLabel('Evaluate (an application, one environment)').check();
      await this.page.getByLabel('Environment (evaluate tokens)').selectOption(target);
    } else if (scope === 'frontend') {
      await this.page.getByLabel('Frontend (a browser page or mobile app, one environment)').check();
      await this.page.getByLabel('Environment (evaluate tokens)').selectOption(target);
      await this.page.getByLabel('Allowed origins (frontend tokens)').fill(origins.join('\n'));
    } else {
      await this.page.getByLabel('Admin (a script acting as a user)').check();
      await this.page.getByLabel('Acts as (admin tokens)').selectOption(target);
    }
    await this.page.getByRole('button', { name: 'Create token' }).click();
  }

  /** The secret shown once after creating a token. */
  createdSecret(): Locator {
    return this.page.getByLabel('The new token');
  }

  row(prefix: string): Locator {
    return this.page.getByTestId(`token-${prefix}`);
  }
}

export class EvaluateForPanel {
  constructor(private readonly page: Page) {}

  async evaluate(fields: { customer?: string; organization?: string; attributes?: string }) {
    await this.page.getByLabel('Customer id').fill(fields.customer ?? '');
    await this.page.getByLabel('Organization id').fill(fields.organization ?? '');
    await this.page.getByLabel('Attributes').fill(fields.attributes ?? '');
    await this.page.getByRole('button', { name: 'Evaluate', exact: true }).click();
  }

  answer(env: string): Locator {
    return this.page.getByTestId(`evaluate-for-${env}`);
  }
}

// ---- Staged rollouts ------------------------------------------------------------------------------

/** The demo product owner: a viewer who holds the product_owner sign-off role. */
export const PRODUCT_OWNER = 'po@rollgate.local';

/**
 * Accepts every confirmation the page asks for (Playwright would otherwise dismiss them, and the buttons
 * would do nothing), and keeps their texts so a test can check what was asked.
 */
export function acceptConfirmations(page: Page): string[] {
  const asked: string[] = [];
  page.on('dialog', async (dialog) => {
    asked.push(dialog.message());
    await dialog.accept();
  });
  return asked;
}

/** A rollout's form: its reason field, its buttons and the roll-back control. */
export class RolloutActions {
  constructor(private readonly form: Locator) {}

  async press(button: string | RegExp, reason?: string) {
    if (reason !== undefined) await this.form.getByLabel(/^Reason/).fill(reason);
    await this.form.getByRole('button', { name: button }).click();
  }

  async overrideGates(reason: string, button: string | RegExp) {
    await this.form.getByLabel('Override unmet gates').check();
    await this.press(button, reason);
  }

  async rollBack(to: string, reason?: string) {
    await this.form.getByLabel('Roll back to').selectOption({ label: to });
    await this.press('Roll back', reason);
  }

  button(name: string | RegExp): Locator {
    return this.form.getByRole('button', { name });
  }
}

/** A rollout's audience as a form takes it: condition rows as [field, operator, values], segments by key. */
export type Audience = { conditions?: Array<[string, string, string]>; segments?: string[] };

/** Fills the audience part of a rollout form: its condition rows from the first, and its segment boxes. */
async function fillAudience(form: Locator, audience: Audience) {
  for (const [i, [field, operator, values]] of (audience.conditions ?? []).entries()) {
    await form.getByLabel(`Field of condition ${i + 1}`).fill(field);
    await form.getByLabel(`Operator of condition ${i + 1}`).selectOption(operator);
    await form.getByLabel(`Values of condition ${i + 1}`).fill(values);
  }
  for (const segment of audience.segments ?? []) {
    await form.getByRole('checkbox', { name: new RegExp(`\\(${segment}\\)`) }).check();
  }
}

/** The "Rollouts" section of a flag's page. */
export class RolloutsPanel {
  constructor(private readonly page: Page) {}

  card(env: string): Locator {
    return this.page.getByTestId(`rollout-card-${env}`);
  }

  status(env: string): Locator {
    return this.card(env).getByTestId('rollout-status');
  }

  percent(env: string): Locator {
    return this.card(env).getByTestId('rollout-percent');
  }

  actions(env: string): RolloutActions {
    return new RolloutActions(this.card(env).getByRole('form'));
  }

  /** What the last button press was refused for (or any other failure). */
  refusal(): Locator {
    return this.page.getByTestId('rollout-outcome-error');
  }

  async plan(fields: {
    environment: string;
    plan: 'Five tiers' | 'Canary' | 'Two steps' | 'Custom stages';
    stages?: string;
    customers?: string;
    organizations?: string;
    audience?: Audience;
  }) {
    const form = this.planForm();
    // The form stays open after an error; a click on its summary would close it.
    if (!(await form.isVisible())) await this.page.getByText('Plan a rollout', { exact: true }).click();
    await form.getByLabel('Environment').selectOption(fields.environment);
    await form.getByRole('radio', { name: fields.plan }).check();
    if (fields.stages) await form.getByLabel(/^Custom stages \(/).fill(fields.stages);
    if (fields.customers) await form.getByLabel('Allow-listed customers').fill(fields.customers);
    if (fields.organizations) await form.getByLabel('Allow-listed organizations').fill(fields.organizations);
    if (fields.audience) await fillAudience(form, fields.audience);
    await form.getByRole('button', { name: 'Plan the rollout' }).click();
  }

  planForm(): Locator {
    return this.page.getByRole('form', { name: 'Plan a rollout' });
  }

  async open(env: string) {
    await this.card(env).getByRole('link', { name: /rollout$/ }).click();
  }
}

/** `/admin/rollouts/{id}`. */
export class RolloutPage {
  constructor(private readonly page: Page) {}

  status(): Locator {
    return this.page.getByRole('heading', { level: 1 }).getByTestId('rollout-status');
  }

  percent(): Locator {
    return this.page.getByTestId('rollout-percent');
  }

  nextGate(): Locator {
    return this.page.getByTestId('next-gate');
  }

  /** "Who is in": the known customers in and out, and whom the next stage would add. */
  population(): Locator {
    return this.page.getByTestId('population');
  }

  soakCountdown(): Locator {
    return this.page.getByTestId('soak-countdown');
  }

  actions(): RolloutActions {
    return new RolloutActions(this.page.getByRole('form', { name: /^Change the rollout of/ }));
  }

  refusal(): Locator {
    return this.page.getByTestId('rollout-outcome-error');
  }

  signoffs(): Locator {
    return this.page.getByTestId('signoff-table');
  }

  /** Newest first. */
  timeline(): Locator {
    return this.page.getByTestId('rollout-timeline');
  }

  stage(position: number): Locator {
    return this.page.getByTestId(`stage-${position}`);
  }

  /** Who the rollout is limited to, in words ("everybody" without an audience). */
  audience(): Locator {
    return this.page.getByTestId('rollout-audience');
  }

  async editPlan(lines: string, reason?: string, audience?: Audience) {
    const form = this.page.getByRole('form', { name: 'Edit the plan' });
    if (!(await form.isVisible())) await this.page.getByText('Edit the plan', { exact: true }).click();
    await form.getByLabel('Stages').fill(lines);
    if (audience) await fillAudience(form, audience);
    if (reason !== undefined) await form.getByLabel('Reason (optional)').fill(reason);
    await form.getByRole('button', { name: 'Save the plan' }).click();
  }
}

/** `/admin/approvals`. */
export class ApprovalsPage {
  constructor(private readonly page: Page) {}

  async goto() {
    await this.page.goto('/admin/approvals');
  }

  item(flag: string, env: string, role: string): Locator {
    return this.page.getByTestId(`approval-${flag}-${env}-${role}`);
  }

  async approve(flag: string, env: string, role: string, comment: string) {
    const item = this.item(flag, env, role);
    await item.getByLabel('Comment (required to reject)').fill(comment);
    await item.getByRole('button', { name: `Approve as ${role}` }).click();
  }

  async reject(flag: string, env: string, role: string, comment: string) {
    const item = this.item(flag, env, role);
    await item.getByLabel('Comment (required to reject)').fill(comment);
    await item.getByRole('button', { name: `Reject as ${role}` }).click();
  }

  outcome(): Locator {
    return this.page.getByRole('status').filter({ hasText: /^(Approved|Rejected) as/ });
  }

  error(): Locator {
    return this.page.getByTestId('signoff-outcome-error');
  }

  empty(): Locator {
    return this.page.getByTestId('approvals-empty');
  }
}

/** `/admin/priority-urls/{account}`: imports, badges on and off, the flag for the account, rollbacks. */
export class PriorityUrlsPage {
  constructor(private readonly page: Page) {}

  async goto(account: string, query = '') {
    await this.page.goto(`/admin/priority-urls/${account}${query}`);
  }

  /** Waits until the wasm bundle has hydrated the page, so forms go through the client. */
  async waitForHydration() {
    await expect(this.page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  }

  async chooseFile(name: string, content: string) {
    await this.page
      .getByLabel('File (CSV or JSON Lines)')
      .setInputFiles({ name, mimeType: 'text/csv', buffer: Buffer.from(content) });
  }

  importButton(): Locator {
    return this.page.getByRole('button', { name: 'Import', exact: true });
  }

  /** Imports a file and waits for the batch result; returns the batch id. */
  async importFile(name: string, content: string): Promise<number> {
    const before = new URL(this.page.url()).searchParams.get('batch');
    await this.chooseFile(name, content);
    await this.importButton().click();
    // The page comes back with the new batch in its address (the previous one may still be showing).
    await this.page.waitForURL((url) => {
      const batch = url.searchParams.get('batch');
      return batch !== null && batch !== before;
    });
    await expect(this.result()).toBeVisible();
    return Number(new URL(this.page.url()).searchParams.get('batch'));
  }

  progress(): Locator {
    return this.page.getByRole('progressbar', { name: 'Upload progress' });
  }

  uploadStatus(): Locator {
    return this.page.getByTestId('upload-status');
  }

  result(): Locator {
    return this.page.getByTestId('import-result');
  }

  count(what: string): Locator {
    return this.result().getByTestId(`count-${what}`);
  }

  rows(): Locator {
    return this.page.getByTestId('url-row');
  }

  row(url: string): Locator {
    return this.rows().filter({ has: this.page.getByText(url, { exact: true }) });
  }

  badgesOn(url: string): Locator {
    return this.row(url).getByTestId('badges-on');
  }

  badgesOff(url: string): Locator {
    return this.row(url).getByTestId('badges-off');
  }

  async filter(options: { tier?: string; pageType?: string; text?: string }) {
    if (options.tier) await this.page.getByLabel('Priority', { exact: true }).selectOption({ label: options.tier });
    if (options.pageType) await this.page.getByLabel('Page type', { exact: true }).selectOption({ label: options.pageType });
    if (options.text !== undefined) await this.page.getByLabel('URL contains').fill(options.text);
    await this.page.getByRole('button', { name: 'Apply' }).click();
  }

  comparison(): Locator {
    return this.page.getByTestId('comparison-summary');
  }

  flagSwitch(account: string, env: string): Locator {
    return this.page.getByRole('switch', { name: `priority_urls_enabled for ${account} in ${env}` });
  }

  batch(id: number): Locator {
    return this.page.getByTestId(`batch-${id}`);
  }

  async rollBack(id: number) {
    await this.page.getByRole('button', { name: `Roll back batch #${id}` }).click();
  }
}

/** A CSV of priority-URL rows. */
export function urlsCsv(rows: Array<[string, string, string]>): string {
  return 'url,update_priority,page_type\n' + rows.map((r) => r.join(',')).join('\n') + '\n';
}

// ---- Targets: overrides on a flag's page, and the organizations registry ------------------------

/** The "Overrides" card of a flag's page. */
export class OverridesCard {
  constructor(private readonly page: Page) {}

  card(): Locator {
    return this.page.getByTestId('overrides');
  }

  addForm(): Locator {
    return this.page.getByRole('form', { name: 'Add an override' });
  }

  async add(fields: { environment: string; kind: 'Customer' | 'Organization'; key: string; value: string; reason?: string }) {
    const form = this.addForm();
    await form.getByLabel('Environment').selectOption(fields.environment);
    await form.getByLabel('Target').selectOption({ label: fields.kind });
    await form.getByLabel('Key').fill(fields.key);
    await form.getByLabel('Value').selectOption(fields.value);
    if (fields.reason !== undefined) await form.getByLabel('Reason').fill(fields.reason);
    await form.getByRole('button', { name: 'Add override' }).click();
  }

  row(env: string, kind: 'customer' | 'organization', key: string): Locator {
    return this.page.getByTestId(`overrides-${env}`).getByTestId(`override-${kind}-${key}`);
  }

  async change(env: string, kind: 'customer' | 'organization', key: string, value: string) {
    const who = `${kind} ${key} in ${env}`;
    const row = this.row(env, kind, key);
    await row.getByLabel(`Value for ${who}`).selectOption(value);
    await row.getByRole('button', { name: `Save the override for ${who}` }).click();
  }

  async remove(env: string, kind: 'customer' | 'organization', key: string) {
    await this.row(env, kind, key).getByRole('button', { name: `Remove the override for ${kind} ${key} in ${env}` }).click();
  }

  keyError(): Locator {
    return this.addForm().locator('#override-target-error');
  }
}

/** `/admin/organizations`: the registry of names for organization and customer keys. */
export class OrganizationsPage {
  constructor(private readonly page: Page) {}

  async goto(query = '') {
    await this.page.goto(`/admin/organizations${query}`);
  }

  async search(text: string) {
    await this.page.getByLabel('Key or name contains').fill(text);
    await this.page.getByRole('button', { name: 'Search', exact: true }).click();
  }

  async register(key: string, name: string) {
    const form = this.page.getByRole('form', { name: 'Register an organization' });
    await form.getByLabel('Key').fill(key);
    await form.getByLabel('Name').fill(name);
    await form.getByRole('button', { name: 'Register' }).click();
  }

  organization(key: string): Locator {
    return this.page.getByTestId(`organization-${key}`);
  }

  async rename(key: string, name: string) {
    const row = this.organization(key);
    await row.getByLabel(`Name of ${key}`).fill(name);
    await row.getByRole('button', { name: `Rename ${key}` }).click();
  }

  async nameUnnamed(key: string, name: string) {
    const row = this.organization(key);
    await row.getByLabel(`Name of ${key}`).fill(name);
    await row.getByRole('button', { name: `Name ${key}` }).click();
  }

  customer(key: string): Locator {
    return this.page.getByTestId(`customer-${key}`);
  }

  async importCustomers(name: string, content: string) {
    await this.page.getByLabel('File (CSV)').setInputFiles({ name, mimeType: 'text/csv', buffer: Buffer.from(content) });
    await this.page.getByRole('button', { name: 'Import customers' }).click();
    await expect(this.page).toHaveURL(/[?&]import=\d+/);
  }

  importResult(): Locator {
    return this.page.getByTestId('customer-import-result');
  }

  count(what: string): Locator {
    return this.importResult().getByTestId(`count-${what}`);
  }
}

/** Whether the page fits its viewport's width without scrolling sideways (tables scroll inside their frame). */
export async function fitsWidth(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

// ---- A team's own install: first admin, environments, phases, people ---------------------------------

/** `/setup?token=...` and `/set-password?token=...`: the pages reached through a one-time link. */
export class LinkPage {
  constructor(private readonly page: Page) {}

  async createFirstAdmin(email: string, name: string, password: string) {
    await this.page.getByLabel('Email').fill(email);
    await this.page.getByLabel('Your name').fill(name);
    await this.page.getByLabel('Password', { exact: true }).fill(password);
    await this.page.getByLabel('Password again').fill(password);
    await this.page.getByRole('button', { name: 'Create the admin account' }).click();
  }

  async choosePassword(password: string, again = password) {
    await this.page.getByLabel('Password', { exact: true }).fill(password);
    await this.page.getByLabel('Password again').fill(again);
    await this.page.getByRole('button', { name: 'Set the password and sign in' }).click();
  }
}

/** `/admin/settings/environments`. */
export class EnvironmentsPage {
  constructor(private readonly page: Page) {}

  async goto() {
    await this.page.goto('/admin/settings/environments');
  }

  async add(key: string, name: string) {
    const form = this.page.getByRole('form', { name: 'Add an environment' });
    await form.getByLabel('Key', { exact: true }).fill(key);
    await form.getByLabel('Name', { exact: true }).fill(name);
    await form.getByRole('button', { name: 'Add environment' }).click();
  }

  row(key: string): Locator {
    return this.page.getByTestId(`environment-${key}`);
  }

  /** The keys of the environments in use, in order. */
  async order(): Promise<string[]> {
    const rows = this.page.getByTestId('environment-table').locator('tbody tr');
    return (await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-testid') ?? ''))).map((id) =>
      id.replace(/^environment-/, ''),
    );
  }

  async move(key: string, direction: 'up' | 'down') {
    await this.page.getByRole('button', { name: `Move ${key} ${direction}` }).click();
  }

  async rename(key: string, name: string) {
    await this.row(key).getByLabel(`Name of ${key}`).fill(name);
    await this.row(key).getByRole('button', { name: `Rename ${key}` }).click();
  }

  async archive(key: string) {
    await this.page.getByRole('button', { name: `Archive ${key}` }).click();
  }

  archiveError(): Locator {
    return this.page.getByTestId('archive-error');
  }

  archived(): Locator {
    return this.page.getByTestId('archived-environments');
  }
}

/** `/admin/phases`. */
export class PhasesPage {
  constructor(private readonly page: Page) {}

  async goto() {
    await this.page.goto('/admin/phases');
  }

  async create(key: string, name: string, requiresPrevious = false) {
    const form = this.page.getByRole('form', { name: 'New phase' });
    if (!(await form.isVisible())) await this.page.getByText('New phase', { exact: true }).click();
    await form.getByLabel('Key', { exact: true }).fill(key);
    await form.getByLabel('Name', { exact: true }).fill(name);
    if (requiresPrevious) await form.getByLabel('Requires the previous phase to be fully rolled out').check();
    await form.getByRole('button', { name: 'Create phase' }).click();
  }

  card(key: string): Locator {
    return this.page.getByTestId(`phase-card-${key}`);
  }
}

/** `/admin/users` and `/admin/users/{id}`. */
export class UsersPage {
  constructor(private readonly page: Page) {}

  async goto() {
    await this.page.goto('/admin/users');
  }

  /** Adds a user and returns their one-time set-password link. */
  async add(email: string, name: string, role: 'viewer' | 'editor' | 'admin', signoff: string[] = []): Promise<string> {
    const form = this.page.getByRole('form', { name: 'Add a user' });
    await form.getByLabel('Email', { exact: true }).fill(email);
    await form.getByLabel('Name', { exact: true }).fill(name);
    await form.getByLabel('Role', { exact: true }).selectOption(role);
    for (const role of signoff) await form.getByLabel(role, { exact: true }).check();
    await form.getByRole('button', { name: 'Add the user' }).click();
    return this.createdLink().inputValue();
  }

  createdLink(): Locator {
    return this.page.getByLabel('The set-password link');
  }

  row(email: string): Locator {
    return this.page.getByTestId(`user-${email}`);
  }

  async open(email: string) {
    await this.row(email).getByRole('link', { name: email }).click();
  }
}

/** `/admin/audit`: the actions of the events shown, newest first. */
export async function auditActions(page: Page): Promise<string[]> {
  await page.goto('/admin/audit');
  return page.getByTestId('audit-table').locator('tbody tr td code').allTextContents();
}

// ---- Targeting: rules, segments, prerequisites --------------------------------------------------------

/** `/admin/segments`: named lists of conditions, with the rules that use them. */
export class SegmentsPage {
  constructor(private readonly page: Page) {}

  async goto() {
    await this.page.goto('/admin/segments');
  }

  segment(key: string): Locator {
    return this.page.getByTestId(`segment-${key}`);
  }

  /** Creates a segment with one condition. */
  async create(fields: { key: string; name: string; field: string; operator: string; values: string }) {
    const form = this.page.getByRole('form', { name: 'New segment' });
    await form.getByLabel('Key').fill(fields.key);
    await form.getByLabel('Name').fill(fields.name);
    await form.getByLabel('Field of condition 1').fill(fields.field);
    await form.getByLabel('Operator of condition 1').selectOption(fields.operator);
    await form.getByLabel('Values of condition 1').fill(fields.values);
    await form.getByRole('button', { name: 'Create segment' }).click();
  }

  async delete(key: string) {
    await this.segment(key).getByRole('button', { name: `Delete the segment ${key}` }).click();
  }

  outcome(): Locator {
    return this.page.getByTestId('segment-outcome');
  }

  error(): Locator {
    return this.page.getByTestId('segment-outcome-error');
  }
}

/** The "Targeting" card of a flag's page: per environment, prerequisites and ordered rules. */
export class TargetingCard {
  constructor(private readonly page: Page) {}

  environment(env: string): Locator {
    return this.page.getByTestId(`targeting-${env}`);
  }

  rule(env: string, name: string): Locator {
    return this.environment(env).getByTestId(`rule-${name}`);
  }

  rules(env: string): Locator {
    return this.page.getByTestId(`rules-${env}`).locator(':scope > li');
  }

  /**
   * Adds a rule: conditions as [field, operator, values] rows (at most the two empty rows the form offers),
   * segments by key, and what it serves (`on`, `off`, `variant:KEY`).
   */
  async addRule(env: string, rule: { name: string; conditions?: Array<[string, string, string]>; segments?: string[]; serve: string }) {
    // The form sits in a closed disclosure ("Add a rule"), hidden until it is opened.
    const disclosure = this.environment(env)
      .locator('details.rule-editor')
      .filter({ has: this.page.locator(':scope > summary', { hasText: /^Add a rule$/ }) });
    if (!(await disclosure.evaluate((d) => (d as HTMLDetailsElement).open))) {
      await disclosure.locator(':scope > summary').click();
    }
    const form = this.page.getByRole('form', { name: `Add a rule in ${env}` });
    await form.getByLabel('Name').fill(rule.name);
    for (const [i, [field, operator, values]] of (rule.conditions ?? []).entries()) {
      await form.getByLabel(`Field of condition ${i + 1}`).fill(field);
      await form.getByLabel(`Operator of condition ${i + 1}`).selectOption(operator);
      await form.getByLabel(`Values of condition ${i + 1}`).fill(values);
    }
    for (const segment of rule.segments ?? []) {
      await form.getByRole('checkbox', { name: new RegExp(`\\(${segment}\\)`) }).check();
    }
    await form.getByLabel('Serve').selectOption(rule.serve);
    await form.getByRole('button', { name: 'Add rule' }).click();
  }

  async move(env: string, name: string, direction: 'up' | 'down') {
    await this.rule(env, name).getByRole('button', { name: `Move the rule ${name} ${direction}` }).click();
  }

  async delete(env: string, name: string) {
    await this.rule(env, name).getByRole('button', { name: `Delete the rule ${name}` }).click();
  }

  async addPrerequisite(env: string, flag: string, state: string) {
    const form = this.page.getByRole('form', { name: `Add a prerequisite in ${env}` });
    await form.getByLabel('Requires').selectOption(flag);
    await form.getByLabel('to be').selectOption(state);
    await form.getByRole('button', { name: 'Add prerequisite' }).click();
  }

  outcome(): Locator {
    return this.page.getByTestId('targeting-outcome');
  }

  error(): Locator {
    return this.page.getByTestId('targeting-outcome-error');
  }
}
