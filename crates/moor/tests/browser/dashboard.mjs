// The admin dashboard in a real browser: headless Chromium (Debian's) driven by
// playwright-core. Run by crates/moor/tests/it/dashboard.rs, which starts the server and
// issues the certificates; every step leaves a screenshot in MOORING_ARTIFACTS.
//
// Environment (all required):
//   MOORING_URL         https://127.0.0.1:PORT of the server
//   MOORING_TOKEN       an admin token (typed into the login form, never put in a URL)
//   MOORING_SEARCH      a SAN of a certificate to search for, open and revoke
//   MOORING_EXPIRING    a SAN of a certificate that expires within 30 days
//   MOORING_ARTIFACTS   where the screenshots go
//   MOORING_PLAYWRIGHT  playwright-core's directory (scripts/install-peers)
//   MOORING_CHROMIUM    the browser (/usr/bin/chromium)
//
// Exits 0 when every check passed; otherwise prints the failed check and exits 1.

import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

function env(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`dashboard.mjs: ${name} is not set (run scripts/install-peers and source target/peers/env.sh)`);
    process.exit(2);
  }
  return v;
}

const base = env('MOORING_URL');
const token = env('MOORING_TOKEN');
const san = env('MOORING_SEARCH');
const expiringSan = env('MOORING_EXPIRING');
const out = env('MOORING_ARTIFACTS');
const require = createRequire(import.meta.url);
const { chromium } = require(env('MOORING_PLAYWRIGHT'));

mkdirSync(out, { recursive: true });

function check(cond, what) {
  if (!cond) {
    throw new Error(`check failed: ${what}`);
  }
  console.log(`ok: ${what}`);
}

const pathOf = (page) => new URL(page.url()).pathname;

const browser = await chromium.launch({
  executablePath: env('MOORING_CHROMIUM'),
  headless: true,
});
let page;
let step = 0;
const shot = async (name) => {
  step += 1;
  const file = path.join(out, `${String(step).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
};

try {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1400, height: 1000 },
  });
  page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const scriptErrors = [];
  page.on('pageerror', (e) => scriptErrors.push(String(e)));

  // Not signed in: every page leads to the login form.
  await page.goto(`${base}/inventory`);
  check(pathOf(page) === '/login', 'unauthenticated /inventory redirects to /login');
  await shot('login');

  // A wrong token is refused, the right one signs in.
  await page.fill('#token', 'tok_wrong.not-a-secret');
  await page.click('#sign-in');
  await page.waitForSelector('#login-error');
  check(pathOf(page) === '/login', 'a wrong token stays on the login page');
  await page.fill('#token', token);
  await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.click('#sign-in')]);
  const session = (await context.cookies()).find((c) => c.name === '__Host-moor_session');
  check(session !== undefined, 'the session cookie is set');
  check(session.secure && session.httpOnly && session.sameSite === 'Strict',
    'the session cookie is Secure, HttpOnly, SameSite=Strict');

  // Overview: counts and the expiry chart with bars.
  const total = Number(await page.textContent('#count-total .n'));
  check(total >= 2, `the overview counts ${total} items (at least the 2 issued)`);
  const expiring = Number(await page.textContent('#count-expiring .n'));
  check(expiring >= 1, `the overview counts ${expiring} expiring`);
  const chart = page.locator('svg#expiry-chart');
  check(await chart.isVisible(), 'the expiry chart is shown');
  const chartTitle = await page.textContent('#expiry-chart-title');
  check(/expiring per day, next 90 days/.test(chartTitle), `the chart is titled: ${chartTitle}`);
  const bars = await page.locator('#expiry-chart rect.bar').count();
  check(bars >= 2, `the expiry chart has ${bars} bars (both certificates expire within 90 days)`);
  check(await page.locator('#issuance-chart rect.bar').count() >= 1, 'the issuance chart has a bar for today');
  await shot('overview');
  await chart.screenshot({ path: path.join(out, 'expiry-chart.png') });

  // Search for one certificate's SAN.
  await page.click('nav a[href="/inventory"]');
  await page.fill('#q', san);
  await Promise.all([page.waitForURL((u) => u.pathname === '/inventory' && u.search.includes('q=')),
    page.click('#search')]);
  const rows = page.locator('#inventory tbody tr');
  check(await rows.count() === 1, `searching ${san} finds one certificate`);
  check((await rows.first().textContent()).includes(san), 'the row shows the SAN');
  check((await rows.first().locator('.status').textContent()) === 'active', 'it is active');
  await shot('search');

  // Open it: fields, locations, chain, extensions, audit trail.
  await Promise.all([page.waitForURL((u) => /^\/inventory\/[0-9a-f]{64}$/.test(u.pathname)),
    rows.first().locator('a').first().click()]);
  check((await page.textContent('#status')) === 'active', 'the detail page says active');
  check(await page.locator('#locations h2').isVisible(), 'the locations section is shown');
  check(await page.locator('#chain tbody tr').count() >= 1, 'the issuer chain is shown');
  check((await page.textContent('#extensions')).includes('subjectAltName'), 'the extensions include subjectAltName');
  check(await page.locator('#audit tr.audit-issue').count() >= 1, 'the audit trail shows the issuance');
  await shot('detail');

  // Revoke it.
  await page.selectOption('#reason', { label: 'cessation-of-operation' });
  await Promise.all([page.waitForURL((u) => u.search === '?done=revoked'), page.click('#revoke-button')]);
  check((await page.textContent('#status')) === 'revoked', 'the status is revoked after revoking');
  check(await page.locator('#notice').isVisible(), 'a notice confirms the revocation');
  check(await page.locator('#audit tr.audit-revoke').count() === 1, 'the audit trail shows the revocation');
  check(await page.locator('#revoke-button').count() === 0, 'no revoke button on a revoked certificate');
  await shot('revoked');

  // The search shows it revoked too.
  await page.goto(`${base}/inventory?q=${encodeURIComponent(san)}`);
  check((await page.locator('#inventory tbody tr .status').first().textContent()) === 'revoked',
    'the inventory lists it as revoked');

  // Findings: the other certificate expires soon.
  await page.click('nav a[href="/findings"]');
  const finding = page.locator('#findings tr.finding-expiring', { hasText: expiringSan });
  check(await finding.count() === 1, `an expiring finding names ${expiringSan}`);
  await shot('findings');

  await page.click('nav a[href="/issuers"]');
  check(await page.locator('#issuers tbody tr').count() >= 1, 'the issuers page lists the CAs');
  await shot('issuers');
  await page.click('nav a[href="/alerts"]');
  check(await page.locator('#alerts').isVisible(), 'the alerts page is shown');
  await shot('alerts');

  // Sign out: the session is over.
  await Promise.all([page.waitForURL((u) => u.pathname === '/login'), page.click('#logout')]);
  await page.goto(`${base}/`);
  check(pathOf(page) === '/login', 'after signing out, / leads to the login form again');
  check(scriptErrors.length === 0, `no script errors (${scriptErrors.join('; ')})`);
  console.log('dashboard.mjs: all checks passed');
} catch (e) {
  console.error(`dashboard.mjs: ${e.stack || e}`);
  if (page) {
    await page.screenshot({ path: path.join(out, 'failure.png'), fullPage: true }).catch(() => {});
  }
  await browser.close();
  process.exit(1);
}
await browser.close();
