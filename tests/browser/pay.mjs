// The hosted payment page as a customer meets it, in headless Chromium (Debian's package):
//   node pay.mjs <page url> <transfers url> <account number> <amount> <second page url> <screenshot prefix>
// 1. Opens the first page on a 360 px phone screen and screenshots it; runs axe-core over it (in a
//    second context allowed to inject the script past the page's Content-Security-Policy); then the
//    customer's bank pays it (a sandbox transfer, from outside the page), and the page must say Paid by
//    itself, without navigating.
// 2. Opens the second page on a 1280 px screen and presses Pay (test mode): the page shows Paid.
// Prints JSON; exits non-zero on any console error (a CSP violation is one), page error or failed
// request.
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [url, transfers, accountNumber, amount, second, prefix] = process.argv.slice(2);
const axeSource = readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const errors = [];
const watch = (page) => {
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('requestfailed', (request) => errors.push(`request failed: ${request.url()}`));
  page.on('response', (response) => {
    if (response.status() >= 400) { errors.push(`${response.status()} ${response.url()}`); }
  });
};
const result = {};
try {
  // 1. A phone.
  const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, deviceScaleFactor: 2 });
  const page = await phone.newPage();
  watch(page);
  let navigations = 0;
  page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) navigations += 1; });
  await page.goto(url, { waitUntil: 'load' });
  result.before = await page.textContent('body');
  result.scripts = await page.evaluate(() => [...document.scripts].map((s) => s.src));
  result.overflows = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  await page.screenshot({ path: `${prefix}-360.png`, fullPage: true });

  const audit = await browser.newContext({ viewport: { width: 360, height: 740 }, bypassCSP: true });
  const audited = await audit.newPage();
  await audited.goto(url, { waitUntil: 'load' });
  await audited.addScriptTag({ content: axeSource });
  const axe = await audited.evaluate(async () => globalThis.axe.run(document, { resultTypes: ['violations'] }));
  result.violations = axe.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
  await audit.close();

  const paid = await fetch(transfers, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ accountNumber, amount: { value: Number(amount), currency: 'NGN' } }),
  });
  result.transfer = paid.status;
  await page.waitForFunction(
    () => document.querySelector('[data-status]').getAttribute('data-status') === 'completed',
    null,
    { timeout: 30000 },
  );
  result.live = await page.textContent('[data-status]');
  result.receiptShown = await page.isVisible('[data-receipt-link]');
  result.navigations = navigations;
  await phone.close();

  // 2. A laptop, and the test-mode Pay button.
  const laptop = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const wide = await laptop.newPage();
  watch(wide);
  await wide.goto(second, { waitUntil: 'load' });
  await Promise.all([
    wide.waitForNavigation({ waitUntil: 'load' }),
    wide.getByRole('button', { name: 'Pay', exact: true }).click(),
  ]);
  result.afterPay = await wide.textContent('[data-status]');
  await wide.screenshot({ path: `${prefix}-1280.png`, fullPage: true });
  await wide.click('text=See your receipt');
  result.receipt = await wide.textContent('body');
  await laptop.close();
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
if (errors.length > 0) {
  console.error(errors.join('\n'));
  process.exit(1);
}
