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

  async signOut() {
    await this.page.getByRole('button', { name: 'Sign out' }).click();
  }
}

export class FlagPage {
  constructor(private readonly page: Page) {}

  async goto(flag: string) {
    await this.page.goto(`/admin/feature-flags/${flag}`);
  }

  history(): Locator {
    return this.page.getByTestId('flag-history');
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
