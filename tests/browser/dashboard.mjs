// The master's dashboard in a real headless browser (Debian's chromium,
// driven by playwright-core; no browser download).
//
//   node dashboard.mjs URL OUT.png [--workers ID,ID,...] [--tasks N]
//        [--dead ID [--attempts N]] [--pending ID] [--timeout-ms MS]
//
// Opens URL (the master's GET /), waits (bounded) until the workers table
// lists every live worker (those the API calls alive, and every ID given)
// and at least N tasks; checks that it refreshes by itself, the state filter (with --dead: the "dead"
// filter shows only dead tasks, that one among them), a task's detail with
// its attempts (at least N of them), and with --pending the reason a task
// is not placed; that the charts are drawn; that the page loaded nothing
// from elsewhere and logged no error.  Saves a screenshot of the whole page
// to OUT.png (also on failure, to see why) and, with --dead, one with that
// task's detail open to OUT-task.png.  Exit 0 when all holds, else 1 with a
// message.
//
// Chromium: $CHROMIUM, else /usr/bin/chromium.
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

function usage(msg) {
	console.error(`dashboard: ${msg}\nusage: node dashboard.mjs URL OUT.png ` +
		'[--workers ID,..] [--tasks N] [--dead ID [--attempts N]] ' +
		'[--pending ID] [--timeout-ms MS]');
	process.exit(1);
}

function parseArgs(argv) {
	const o = { workers: [], tasks: 1, attempts: 1, timeoutMs: 60000 };
	const rest = [];

	for (let i = 0; i < argv.length; i++) {
		const a = argv[i], v = argv[i + 1];
		const needs = () => { if (v === undefined) usage(`${a} needs a value`); i++; return v; };
		if (a === '--workers') o.workers = needs().split(',').filter(Boolean);
		else if (a === '--tasks') o.tasks = Number(needs());
		else if (a === '--dead') o.dead = needs();
		else if (a === '--attempts') o.attempts = Number(needs());
		else if (a === '--pending') o.pending = needs();
		else if (a === '--timeout-ms') o.timeoutMs = Number(needs());
		else if (a.startsWith('--')) usage(`unknown option ${a}`);
		else rest.push(a);
	}
	if (rest.length !== 2) usage('want URL and OUT.png');
	[o.url, o.out] = rest;
	for (const k of ['tasks', 'attempts', 'timeoutMs'])
		if (!(o[k] >= 0)) usage(`bad number for ${k}`);
	return o;
}

const o = parseArgs(process.argv.slice(2));
const exe = process.env.CHROMIUM || '/usr/bin/chromium';
if (!existsSync(exe)) usage(`no chromium at ${exe} (set CHROMIUM)`);

const origin = new URL(o.url).origin;
const taskShot = o.out.replace(/(\.png)?$/, '-task.png');
const started = Date.now();
const left = () => Math.max(1000, o.timeoutMs - (Date.now() - started));
const problems = [];
let browser, page;

// The whole run is bounded, whatever hangs.
const watchdog = setTimeout(() => finish(`timed out after ${o.timeoutMs} ms`), o.timeoutMs + 15000);

async function finish(err) {
	clearTimeout(watchdog);
	if (err && page)
		await page.screenshot({ path: o.out }).catch(() => {});
	if (browser)
		await browser.close().catch(() => {});
	if (err) {
		console.error(`dashboard: FAILED: ${err}`);
		process.exit(1);
	}
	console.log(`dashboard: ok in ${Date.now() - started} ms, screenshots ${o.out}` +
		(o.dead ? ` and ${taskShot}` : ''));
	process.exit(0);
}

async function step(what, fn) {
	try {
		return await fn();
	} catch (e) {
		throw new Error(`${what}: ${e.message.split('\n')[0]}`);
	}
}

async function apiWorkers() {
	const r = await fetch(new URL('api/v1/workers', o.url));
	if (!r.ok) throw new Error(`GET api/v1/workers: HTTP ${r.status}`);
	const j = await r.json();
	return (j.workers || []).filter((w) => w.state === 'alive').map((w) => String(w.id));
}

// The detail panel covers part of the tables: close it first.
async function closeDetail() {
	if (await page.isVisible('#detail'))
		await page.click('#detail .close');
	await page.waitForSelector('#detail', { state: 'hidden', timeout: left() });
}

async function selectFilter(state) {
	await closeDetail();
	await page.click(`#filter button[data-state="${state}"]`);
	await page.waitForFunction((s) => {
		const rows = [...document.querySelectorAll('#tasks tbody tr[data-task-id]')];
		return rows.length > 0 && rows.every((r) => !s || r.dataset.state === s);
	}, state, { timeout: left() });
}

async function openTask(id) {
	await closeDetail();
	await page.click(`#tasks tbody tr[data-task-id="${id}"]`);
	await page.waitForFunction((i) => {
		const h = document.querySelector('#detail:not([hidden]) h3');
		return h && h.textContent.startsWith(`Task ${i}`) && h.querySelector('.pill');
	}, id, { timeout: left() });
}

async function run() {
	browser = await step('launch chromium', () => chromium.launch({
		executablePath: exe,
		headless: true,
		timeout: 30000,
		// No sandbox as root; no background traffic: the page must not
		// need any network but the master's.
		args: [...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : []),
			'--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update',
			'--disable-sync', '--disable-dev-shm-usage'],
	}));
	page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
	page.on('console', (m) => {
		if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
	});
	page.on('request', (r) => {
		const u = new URL(r.url());
		if (u.protocol !== 'data:' && u.origin !== origin)
			problems.push(`request to elsewhere: ${r.url()}`);
	});

	const resp = await step(`open ${o.url}`, () => page.goto(o.url, { timeout: left() }));
	if (!resp || resp.status() !== 200)
		throw new Error(`GET ${o.url}: HTTP ${resp ? resp.status() : 'no answer'}`);
	const csp = resp.headers()['content-security-policy'] || '';
	if (!csp.includes("default-src 'self'"))
		throw new Error(`GET ${o.url}: no Content-Security-Policy with default-src 'self' (got "${csp}")`);

	// Every live worker, as the API and the caller know them.
	const want = [...new Set([...(await apiWorkers()), ...o.workers])];
	if (!want.length) throw new Error('no live worker to look for');
	await step(`workers table lists ${want.join(', ')}`, () => page.waitForFunction((ids) =>
		ids.every((id) => {
			const r = [...document.querySelectorAll('#workers tbody tr')]
				.find((x) => x.dataset.workerId === id);
			return r && r.dataset.state === 'alive';
		}), want, { timeout: left() }));
	await step(`tasks table shows ${o.tasks} tasks`, () => page.waitForFunction((n) =>
		document.querySelectorAll('#tasks tbody tr[data-task-id]').length >= n,
		o.tasks, { timeout: left() }));
	// It refreshes by itself: the uptime moves on without a reload.
	const up = await page.textContent('#uptime');
	await step('page refreshes by itself', () => page.waitForFunction((u) =>
		document.querySelector('#uptime').textContent !== u, up, { timeout: left() }));
	await step('charts drawn', () => page.waitForFunction(() =>
		document.querySelectorAll('#chart-depth path').length > 0 &&
		document.querySelectorAll('#chart-tput text').length > 0, null, { timeout: left() }));

	if (o.dead) {
		await step('filter "dead"', () => selectFilter('dead'));
		await step(`dead task ${o.dead} listed`, () => page.waitForSelector(
			`#tasks tbody tr[data-task-id="${o.dead}"][data-state="dead"]`, { timeout: left() }));
		await step(`detail of task ${o.dead}`, () => openTask(o.dead));
		await step(`${o.attempts} attempts shown`, () => page.waitForFunction((n) => {
			const rows = document.querySelectorAll('#attempts tbody tr[data-attempt]');
			return rows.length >= n && [...rows].every((r) => r.querySelector('.pill'));
		}, o.attempts, { timeout: left() }));
	}
	if (o.pending) {
		await step('filter "ready"', () => selectFilter('ready'));
		await step(`detail of task ${o.pending}`, () => openTask(o.pending));
		await step('pending reason shown', () => page.waitForFunction(() => {
			const p = document.querySelector('#pending-reason');
			return p && p.querySelector('p').textContent.trim().length > 0 &&
				p.querySelectorAll('tbody tr').length > 0;
		}, null, { timeout: left() }));
	}
	// The pictures: the whole page with every task, after one more
	// refresh so that nothing is half drawn; then the dead task's detail.
	await step('filter "all"', () => selectFilter(''));
	await page.waitForTimeout(2500);
	if (problems.length)
		throw new Error(problems.join('; '));
	await page.screenshot({ path: o.out, fullPage: true });
	if (o.dead) {
		await step(`detail of task ${o.dead}`, () => openTask(o.dead));
		await page.waitForTimeout(300);
		await page.screenshot({ path: taskShot });
	}
}

run().then(() => finish(), (e) => finish(e.message));
