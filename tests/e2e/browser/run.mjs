// Drives tests/e2e/browser/index.html in the system's headless Chromium (tests/e2e/test_browser.py).
//
//   node run.mjs '<options JSON>'
//   options: {"page": "http://127.0.0.1:<p>/index.html?issuer=…", "issuer": "<issuer>",
//             "username", "password", "chromium": "/usr/bin/chromium", "timeout_ms": 20000}
//   or, for the user's part alone: {"mode": "consent", "authorize_url": "…", "redirect_prefix":
//             "com.example.app:/cb", "username", "password", "wait_ms": 3000} -> the report has
//             "redirects" (the redirect-URI requests the browser made, with their parameter names)
//             and "csp_violations" (console messages about the Content-Security-Policy)
//
// playwright-core drives the Debian chromium package (no downloaded browser): a fresh profile
// directory, the flags below. The page runs discovery, registration and PKCE by itself and
// navigates to Wattle's consent page; this script then acts as the user (fills username and
// password, presses Allow) and waits for the page's result (<pre id="result" data-done>).
// Network events come from the DevTools protocol, which also reports CORS preflights (resource
// type "Preflight"). Prints one JSON line: {result, consent, network, console, errors}; exit
// status 1 when the page did not finish with data-done="ok".

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const opts = JSON.parse(process.argv[2] ?? '{}');
const timeout = opts.timeout_ms ?? 20000;
const report = { result: null, consent: null, network: [], console: [], errors: [] };
const profile = mkdtempSync(join(tmpdir(), 'wattle-chromium-'));
let context;
let exitCode = 1;

try {
    context = await chromium.launchPersistentContext(profile, {
        executablePath: opts.chromium ?? '/usr/bin/chromium',
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        timeout
    });
    report.browser_version = context.browser()?.version() ?? null;
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(timeout);
    page.on('console', m => report.console.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', e => report.errors.push(String(e)));

    // Every request and response, preflights included, as the DevTools protocol reports them.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    const corsHeaders = (rec, headers) => {
        const h = {};
        for (const [k, v] of Object.entries(headers)) h[k.toLowerCase()] = v;
        rec.acao = h['access-control-allow-origin'] ?? null;
        rec.acah = h['access-control-allow-headers'] ?? null;
        rec.aceh = h['access-control-expose-headers'] ?? null;
        rec.acac = h['access-control-allow-credentials'] ?? null;
        return h;
    };
    cdp.on('Network.requestWillBeSent', e => {
        if (e.redirectResponse) {
            // The previous hop of this request ended in a redirect.
            const prev = [...report.network].reverse().find(r => r.id === e.requestId && r.status === undefined);
            if (prev) {
                prev.status = e.redirectResponse.status;
                prev.response_type = 'Redirect';
                const h = corsHeaders(prev, e.redirectResponse.headers);
                prev.location = h.location ? h.location.split('?')[0] : null;
            }
        }
        const u = new URL(e.request.url);
        const rec = {
            id: e.requestId,
            type: e.type ?? null,
            method: e.request.method,
            url: u.origin + u.pathname,
            origin_header: e.request.headers.Origin ?? e.request.headers.origin ?? null,
            request_headers: e.request.headers['Access-Control-Request-Headers'] ?? null
        };
        report.network.push(rec);
    });
    cdp.on('Network.responseReceived', e => {
        const rec = [...report.network].reverse().find(r => r.id === e.requestId && r.status === undefined);
        if (!rec) return;
        rec.status = e.response.status;
        rec.type = rec.type ?? e.type;
        rec.response_type = e.type;
        corsHeaders(rec, e.response.headers);
    });
    cdp.on('Network.loadingFailed', e => {
        const rec = [...report.network].reverse().find(r => r.id === e.requestId);
        if (rec) {
            rec.failed = e.errorText;
            rec.cors_error = e.corsErrorStatus?.corsError ?? null;
        }
    });

    // The consent page's own response (headers a browser relies on).
    page.on('response', r => {
        if (r.url().startsWith(opts.issuer + '/oauth/authorize') && r.request().method() === 'GET' && r.request().isNavigationRequest()) {
            const h = r.headers();
            report.consent = {
                status: r.status(),
                content_type: h['content-type'] ?? null,
                x_frame_options: h['x-frame-options'] ?? null,
                csp: h['content-security-policy'] ?? null,
                acao: h['access-control-allow-origin'] ?? null
            };
        }
    });

    if (opts.mode === 'consent') {
        // Only the user's part: open an authorization URL, log in, press Allow, and see whether
        // the browser goes on to the redirect URI (for a private-use scheme Chromium hands the
        // URL to the operating system: a request for it is what shows that it was allowed).
        const redirects = [];
        page.on('request', r => {
            if (r.url().startsWith(opts.redirect_prefix)) redirects.push(r.url());
        });
        await page.goto(opts.authorize_url);
        await page.fill('input[name="username"]', opts.username);
        await page.fill('input[name="password"]', opts.password);
        await page.click('button[name="decision"][value="allow"]');
        const deadline = Date.now() + (opts.wait_ms ?? 3000);
        while (!redirects.length && Date.now() < deadline) await page.waitForTimeout(100);
        report.redirects = redirects.map(u => {
            const x = new URL(u);
            return { prefix: u.slice(0, opts.redirect_prefix.length), params: [...x.searchParams.keys()] };
        });
        report.csp_violations = report.console.filter(m => /Content Security Policy/.test(m));
        report.final_url = page.url();
        exitCode = 0;
    } else {
        await runClientPage(page);
    }
} catch (e) {
    report.failure = { name: e?.name, message: e?.message, stack: e?.stack };
} finally {
    try {
        await context?.close();
    } catch {
        /* best effort */
    }
    rmSync(profile, { recursive: true, force: true });
}
for (const r of report.network) delete r.id;
process.stdout.write(JSON.stringify(report) + '\n');
process.exit(exitCode);

async function runClientPage(page) {
    await page.goto(opts.page);
    const done = page.waitForSelector('#result[data-done]', { state: 'attached' }).then(() => 'done');
    const consent = page.waitForURL(u => u.href.startsWith(opts.issuer + '/oauth/authorize')).then(() => 'consent');
    const first = await Promise.race([done, consent]);
    if (first === 'consent') {
        await page.waitForSelector('button[name="decision"][value="allow"]');
        report.consent = { ...report.consent, title: await page.title() };
        await page.fill('input[name="username"]', opts.username);
        await page.fill('input[name="password"]', opts.password);
        await page.click('button[name="decision"][value="allow"]');
        await page.waitForSelector('#result[data-done]', { state: 'attached' });
    }
    done.catch(() => {});
    consent.catch(() => {});
    report.final_url = page.url();
    const el = await page.$('#result');
    report.done = await el.getAttribute('data-done');
    report.result = JSON.parse(await el.textContent());
    exitCode = report.done === 'ok' ? 0 : 1;
}
