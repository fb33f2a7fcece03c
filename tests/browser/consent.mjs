// A customer consents to a scheduled collection in headless Chromium: the consent page, the button
// that goes to (emulated) Paystack — a bank mandate (Approve there) or a card (Pay the verification
// charge at the checkout) — and back to the consent page until it says "Authorized".
//   node consent.mjs <consent url> <bank|card> <screenshot.png>
// Prints what each page said as JSON; exits non-zero on any console error, page error, failed request
// or Content-Security-Policy violation.
import { chromium } from 'playwright-core';

const [url, rail, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 360, height: 740 } });
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('requestfailed', (request) => errors.push(`request failed: ${request.url()}`));
  await page.goto(url, { waitUntil: 'load' });
  const before = await page.textContent('body');
  const email = await page.inputValue('input[name=email]');
  const [button, paystackPage, approve] = rail === 'card'
    ? ['Authorize a card with Paystack', /checkout/, 'Pay']
    : ['Authorize a bank debit with Paystack', /authorize/, 'Approve mandate'];
  await Promise.all([
    page.waitForURL(paystackPage, { waitUntil: 'load' }),
    page.getByRole('button', { name: button, exact: true }).click(),
  ]);
  const paystack = await page.textContent('body');
  // Paystack sends the customer back to /consent/{token}/done, which shows the consent page.
  await Promise.all([
    page.waitForURL(url, { waitUntil: 'load' }),
    page.getByRole('button', { name: approve, exact: true }).click(),
  ]);
  // The bank activates the mandate a moment later; the page shows it on a reload.
  let after = await page.textContent('body');
  for (let i = 0; i < 100 && !after.includes('Authorized'); i++) {
    await page.waitForTimeout(200);
    await page.reload({ waitUntil: 'load' });
    after = await page.textContent('body');
  }
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ before, email, paystack, after }));
} finally {
  await browser.close();
}
if (errors.length > 0) {
  console.error(errors.join('\n'));
  process.exit(1);
}
