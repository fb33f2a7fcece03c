// Opens a checkout page in headless Chromium, presses a button, and takes a screenshot.
//   node checkout.mjs <url> <button label> <screenshot.png>
// Prints the page's text after the press as JSON; exits non-zero on any console error, page error or
// Content-Security-Policy violation.
import { chromium } from 'playwright-core';

const [url, label, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const errors = [];
try {
  const page = await browser.newPage();
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('requestfailed', (request) => errors.push(`request failed: ${request.url()}`));
  await page.goto(url, { waitUntil: 'load' });
  const before = await page.textContent('body');
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.getByRole('button', { name: label, exact: true }).click(),
  ]);
  const after = await page.textContent('body');
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ before, after }));
} finally {
  await browser.close();
}
if (errors.length > 0) {
  console.error(errors.join('\n'));
  process.exit(1);
}
