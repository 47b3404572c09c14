import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'
import t from 'tap'
import { findChromium } from '../helpers/chromium.ts'
import { freePort } from '../helpers/process.ts'

/**
 * GET /docs in a real browser (Debian's Chromium, driven by puppeteer-core; nothing downloaded):
 * against the real process on a port that is not the default, authorize with a bearer token in
 * Swagger UI, "Try it out" on a secured route, and expect a 2xx with no console error and no failed
 * request. The page's calls go where the document's `servers` says, under the page's CSP, so this
 * is what catches a document naming another port or a policy that blocks the call.
 */

const root = fileURLToPath(new URL('../..', import.meta.url))
const entry = path.join(root, 'src/server.ts')
const BOOT_TIMEOUT_MS = 60_000
const UI_TIMEOUT_MS = 20_000
const OPERATION = '#operations-me-getMe' // GET /v1/me, secured (Swagger UI ids are #operations-{tag}-{operationId})

/** `node src/server.ts` with only this configuration (plus PATH); resolves once it listens. */
async function startServer(t: { teardown(fn: () => unknown): void }, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [entry], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: ':memory:',
      LOG_LEVEL: 'warn'
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let output = ''
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    output += c
  })
  child.stderr!.setEncoding('utf8').on('data', (c: string) => {
    output += c
  })
  const deadline = performance.now() + BOOT_TIMEOUT_MS
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}) before listening:\n${output}`)
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child
    } catch {
      /* not listening yet */
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`the server did not listen within ${BOOT_TIMEOUT_MS} ms:\n${output}`)
}

interface Watched {
  consoleErrors: string[]
  failedRequests: string[]
}

/** Records console errors, uncaught page errors, requests that failed and answers of 400 or more. */
function watch(page: Page): Watched {
  const w: Watched = { consoleErrors: [], failedRequests: [] }
  page.on('console', (m) => {
    if (m.type() === 'error') w.consoleErrors.push(m.text())
  })
  page.on('pageerror', (e) => {
    w.consoleErrors.push(`uncaught: ${e instanceof Error ? e.message : String(e)}`)
  })
  page.on('requestfailed', (r) => {
    w.failedRequests.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`)
  })
  page.on('response', (r) => {
    if (r.status() >= 400) w.failedRequests.push(`${r.request().method()} ${r.url()}: ${r.status()}`)
  })
  return w
}

/** tryItOut, or a failure that shows what the page logged and which requests failed. */
async function tryOrExplain(
  t: { fail(message: string, extra: object): unknown },
  page: Page,
  seen: Watched,
  docsUrl: string,
  token: string
): Promise<Awaited<ReturnType<typeof tryItOut>> | null> {
  try {
    return await tryItOut(page, docsUrl, token)
  } catch (err) {
    t.fail(
      `the page did not get through Authorize → Try it out → Execute: ${err instanceof Error ? err.message : String(err)}`,
      { consoleErrors: seen.consoleErrors, failedRequests: seen.failedRequests }
    )
    return null
  }
}

/** Opens /docs, authorizes with the token, runs "Try it out" → "Execute" on GET /v1/me; returns what the page shows. */
async function tryItOut(
  page: Page,
  docsUrl: string,
  token: string
): Promise<{ status: string; requestUrl: string; body: string }> {
  page.setDefaultTimeout(UI_TIMEOUT_MS)
  // Swagger UI renders after the page has loaded (it fetches the document first): wait for each control.
  const click = async (selector: string) => {
    await (await page.waitForSelector(selector, { visible: true }))!.click()
  }
  await page.goto(docsUrl, { waitUntil: 'load' })
  await click('.auth-wrapper .btn.authorize')
  await (await page.waitForSelector('.modal-ux input[aria-label="auth-bearer-value"]', { visible: true }))!.type(token)
  await click('.modal-ux .auth-btn-wrapper .btn.authorize')
  await click('.modal-ux .btn-done')
  await click(`${OPERATION} .opblock-summary-control`)
  await click(`${OPERATION} .try-out__btn`)
  await click(`${OPERATION} .btn.execute`)
  const cell = await page.waitForSelector(`${OPERATION} .live-responses-table tbody .response-col_status`)
  return {
    status: (await cell!.evaluate((e) => e.textContent ?? '')).trim(),
    requestUrl: await page.$eval(`${OPERATION} .request-url pre`, (e) => e.textContent ?? ''),
    // The response's text: its body when there is one, else what Swagger UI says went wrong ("Failed to fetch…").
    body: await page.$eval(
      `${OPERATION} .live-responses-table tbody .response-col_description`,
      (e) => e.textContent ?? ''
    )
  }
}

const chromium = findChromium()
const onPostgres = Boolean(process.env.TEST_DATABASE_URL)
const skip = onPostgres
  ? 'the page does not depend on the database (its server runs on PGlite in memory either way): it runs once, in the PGlite pass'
  : chromium === null
    ? "no `chromium` on PATH (.ci/run installs Debian's: apt-get install -y chromium)"
    : false

t.test('GET /docs in Chromium: "Try it out" on a secured route', { skip }, async (t) => {
  const port = await freePort()
  t.not(port, 3000, `the server runs on a port that is not the default (${port})`)
  const started = performance.now()
  await startServer(t, port)
  t.comment(`server up in ${Math.round(performance.now() - started)} ms`)
  const minted = await fetch(`http://127.0.0.1:${port}/v1/dev/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub: 'docs-reader', name: 'Docs Reader' })
  })
  t.equal(minted.status, 201, 'a development token is minted')
  const token = ((await minted.json()) as { accessToken: string }).accessToken

  const userDataDir = await mkdtemp(path.join(tmpdir(), 'accord-chromium-'))
  t.teardown(() => rm(userDataDir, { recursive: true, force: true }))
  const browser: Browser = await puppeteer.launch({
    executablePath: chromium!,
    headless: true,
    // Without the background-networking flags Chromium reaches for Google's services, which a closed network refuses.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${userDataDir}`,
      // A name that is not loopback, resolved to the loopback server: a browser treats it as a plain-HTTP origin
      // on a network (a container's or a LAN address), which a loopback address is not.
      '--host-resolver-rules=MAP accord-docs.test 127.0.0.1'
    ]
  })
  t.teardown(() => browser.close())
  t.comment(`${await browser.version()} at ${chromium}`)

  t.test(`at http://127.0.0.1:${port}/docs`, async (t) => {
    const page = await browser.newPage()
    const seen = watch(page)
    const shown = await tryOrExplain(t, page, seen, `http://127.0.0.1:${port}/docs`, token)
    if (!shown) return
    t.match(shown.status, /^2\d\d$/, `the response shown is 2xx (${shown.status})`, { body: shown.body })
    t.equal(
      shown.requestUrl,
      `http://127.0.0.1:${port}/v1/me`,
      'the call went to this server, not to the port the document was generated with'
    )
    t.match(shown.body, /"displayName": "Docs Reader"/, "with the token's user")
    t.same(seen.consoleErrors, [], 'no console error')
    t.same(seen.failedRequests, [], 'no failed request')
    await page.close()
  })

  t.test(`at http://accord-docs.test:${port}/docs, plain HTTP under a name that is not loopback`, async (t) => {
    const page = await browser.newPage()
    const seen = watch(page)
    const shown = await tryOrExplain(t, page, seen, `http://accord-docs.test:${port}/docs`, token)
    if (!shown) return
    t.match(
      shown.status,
      /^2\d\d$/,
      `the response shown is 2xx (${shown.status}): the CSP does not upgrade the page's requests to https`
    )
    t.equal(
      shown.requestUrl,
      `http://accord-docs.test:${port}/v1/me`,
      'the call went to the origin the page was loaded from'
    )
    // Chromium logs, as an error, that it ignores Cross-Origin-Opener-Policy on a plain-HTTP origin: a fact about
    // the transport, not a failure of the page (over HTTPS, or on loopback above, it is not logged).
    t.same(
      seen.consoleErrors.filter(
        (e) =>
          !e.startsWith(
            "The Cross-Origin-Opener-Policy header has been ignored, because the URL's origin was untrustworthy"
          )
      ),
      [],
      'no other console error'
    )
    t.same(seen.failedRequests, [], 'no failed request')
    await page.close()
  })
})
