import { expect, test } from '@playwright/test';
import { LoginPage, PriorityUrlsPage, USERS, urlsCsv } from './pages';

// Each test works on its own demo account, so they do not depend on one another.

async function signInAsEditor(page: import('@playwright/test').Page) {
  const login = new LoginPage(page);
  await login.goto();
  await login.signIn(USERS.editor);
}

test('an editor uploads 60,000 URLs, sees the upload progress, then the batch result', async ({ page }) => {
  test.setTimeout(120_000);
  await signInAsEditor(page);
  const urls = new PriorityUrlsPage(page);
  await urls.goto('globex');
  const rows: Array<[string, string, string]> = [];
  const tiers = ['critical', 'high', 'medium', 'low'];
  for (let i = 0; i < 60_000; i++) rows.push([`https://globex.example/products/item-${i}`, tiers[i % 4], 'product']);

  await urls.chooseFile('globex.csv', urlsCsv(rows));
  await urls.importButton().click();

  await expect(urls.progress()).toBeVisible();
  await expect(urls.uploadStatus()).toHaveText('Uploaded 100%. Importing…');
  await expect(urls.progress()).toHaveAttribute('aria-valuenow', '100');
  await expect(page).toHaveURL(/\/admin\/priority-urls\/globex\?batch=\d+/, { timeout: 60_000 });
  await expect(urls.result()).toContainText('imported');
  await expect(urls.count('read')).toHaveText('60,000');
  await expect(urls.count('inserted')).toHaveText('60,000');
  await expect(page.getByTestId('url-count')).toContainText('60,000 URLs match');
});

test('the badges show on the account page and filter by priority, page type and text', async ({ page }) => {
  await signInAsEditor(page);
  const urls = new PriorityUrlsPage(page);
  await urls.goto('initech');
  await urls.importFile(
    'initech.csv',
    urlsCsv([
      ['https://initech.example/', 'critical', 'home'],
      ['https://initech.example/category/printers', 'high', 'category'],
      ['https://initech.example/p/tps-report', 'medium', 'product'],
      ['https://initech.example/blog/office-space', 'low', 'article'],
      ['https://initech.example/search?q=stapler', 'low', 'search'],
    ]),
  );

  await expect(urls.rows()).toHaveCount(5);
  await expect(urls.badgesOn('https://initech.example/p/tps-report')).toContainText('Medium');
  await expect(urls.badgesOn('https://initech.example/p/tps-report')).toContainText('Product');

  await urls.filter({ tier: 'Low' });
  await expect(page).toHaveURL(/tier=low/);
  await expect(urls.rows()).toHaveCount(2);
  for (const badges of await page.getByTestId('badges-on').all()) await expect(badges).toContainText('Low');

  await urls.goto('initech', '?page_type=product');
  await expect(urls.rows()).toHaveCount(1);
  await expect(urls.row('https://initech.example/p/tps-report')).toBeVisible();

  await urls.goto('initech');
  await urls.filter({ text: 'printers' });
  await expect(urls.rows()).toHaveCount(1);
  await expect(urls.badgesOn('https://initech.example/category/printers')).toContainText('High');
});

test('the badges with the flag on are compared with the heuristic ones with it off', async ({ page }) => {
  await signInAsEditor(page);
  const urls = new PriorityUrlsPage(page);
  await urls.goto('umbrella');
  await urls.importFile(
    'umbrella.csv',
    urlsCsv([
      ['https://umbrella.example/', 'low', 'home'], // heuristic: critical home
      ['https://umbrella.example/category/vaccines', 'high', 'category'], // heuristic: high category
      ['https://umbrella.example/about', 'critical', 'landing'], // heuristic: medium other
    ]),
  );

  await expect(urls.comparison()).toHaveText(
    'Turning the flag on changes the tier of 2 of 3 URLs (66.7%): 1 become more urgent, 1 less urgent. 1 change page type.',
  );
  await expect(urls.badgesOn('https://umbrella.example/')).toContainText('Low');
  await expect(urls.badgesOff('https://umbrella.example/')).toContainText('Critical');
  await expect(urls.row('https://umbrella.example/').getByTestId('tier-change')).toHaveText('less urgent');
  await expect(urls.badgesOff('https://umbrella.example/about')).toContainText('Medium');
  await expect(urls.badgesOff('https://umbrella.example/about')).toContainText('Other');
  await expect(urls.row('https://umbrella.example/about').getByTestId('tier-change')).toHaveText('more urgent');
  await expect(urls.row('https://umbrella.example/category/vaccines').getByTestId('tier-change')).toHaveText('same tier');
});

test('an editor turns the flag on for an account; it is an audited override', async ({ page }) => {
  await signInAsEditor(page);
  const urls = new PriorityUrlsPage(page);
  await urls.goto('acme');
  await urls.waitForHydration();
  const production = urls.flagSwitch('acme', 'production');
  await expect(production).toHaveAttribute('aria-checked', 'false');

  await production.click();

  await expect(urls.flagSwitch('acme', 'production')).toHaveAttribute('aria-checked', 'true');
  await page.reload();
  await expect(urls.flagSwitch('acme', 'production')).toHaveAttribute('aria-checked', 'true');
  await expect(urls.flagSwitch('acme', 'staging')).toHaveAttribute('aria-checked', 'false');
  await page.goto('/admin/audit?action=override.set');
  const latest = page.getByTestId('audit-table').getByRole('row').nth(1);
  await expect(latest).toContainText('editor@rollgate.local');
  await expect(latest).toContainText('priority_urls_enabled/production/acme');
  await page.goto('/admin/priority-urls');
  await expect(page.getByTestId('account-row-acme')).toContainText('production');
});

test('rolling a batch back brings the previous badges back; an older batch waits for the newer', async ({ page }) => {
  await signInAsEditor(page);
  const urls = new PriorityUrlsPage(page);
  await urls.goto('hooli');
  const first = await urls.importFile('first.csv', urlsCsv([['https://hooli.example/p/nucleus', 'low', 'product']]));
  const second = await urls.importFile(
    'second.csv',
    urlsCsv([
      ['https://hooli.example/p/nucleus', 'critical', 'product'],
      ['https://hooli.example/lp/box', 'high', 'landing'],
    ]),
  );
  await expect(urls.badgesOn('https://hooli.example/p/nucleus')).toContainText('Critical');
  await expect(urls.rows()).toHaveCount(2);
  await urls.waitForHydration();

  await urls.rollBack(first);
  await expect(page.getByTestId('rollback-error')).toContainText(`Roll back batch #${second} first`);
  await expect(urls.badgesOn('https://hooli.example/p/nucleus')).toContainText('Critical');

  await urls.rollBack(second);
  await expect(page.getByTestId('rollback-result')).toContainText(`Rolled back batch #${second}`);
  await expect(urls.badgesOn('https://hooli.example/p/nucleus')).toContainText('Low');
  await expect(urls.row('https://hooli.example/lp/box')).toHaveCount(0);
  await expect(urls.batch(second).getByTestId('batch-status')).toHaveText('rolled back');
  await expect(urls.batch(first).getByTestId('batch-status')).toHaveText('completed');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the upload is a plain form post: the result or the error comes back on the page', async ({ page }) => {
    await signInAsEditor(page);
    const urls = new PriorityUrlsPage(page);
    await urls.goto('seo-insights');

    await urls.importFile('plain.csv', urlsCsv([['https://seo-insights.example/', 'critical', 'home']]));
    await expect(urls.count('inserted')).toHaveText('1');
    await expect(urls.badgesOn('https://seo-insights.example/')).toContainText('Critical');

    await urls.chooseFile('broken.csv', 'url,update_priority,page_type\n"https://seo-insights.example/x,low,home\n');
    await urls.importButton().click();
    await expect(page.getByTestId('import-error')).toContainText('broken quoting on line 2');
  });
});
