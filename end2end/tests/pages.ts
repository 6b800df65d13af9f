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

export class TokensPage {
  constructor(private readonly page: Page) {}

  async goto() {
    await this.page.goto('/admin/tokens');
  }

  async create(name: string, scope: 'evaluate' | 'admin', target: string) {
    await this.page.getByLabel('Name').fill(name);
    if (scope === 'evaluate') {
      await this.page.getByLabel('Evaluate (an application, one environment)').check();
      await this.page.getByLabel('Environment (evaluate tokens)').selectOption(target);
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
