import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { buildTestApp, freshPostgresUrl, onPostgres, PG_URL, type TestApp } from '../helpers/app.ts'
import { isProblem, problemOf } from '../helpers/problems.ts'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts'

/**
 * The database goes away while the service runs. The app talks to PostgreSQL
 * through a TCP proxy that we close, reset or blackhole, then open again on the
 * same port. Every request must answer 503 within a bound (never hang, never
 * 500, never leak a query), liveness stays green, and the same app recovers on
 * its own when the database is back.
 */

/** A request that does not answer within this many milliseconds fails (the connect timeout is 2 s). */
const BOUND_MS = 8000
const CONNECT_TIMEOUT_S = 2

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Runs a request against a timer: the response and how long it took, or null when the bound passed first. */
async function timed(
  run: () => Promise<LightMyRequestResponse>,
  boundMs = BOUND_MS
): Promise<{ res: LightMyRequestResponse | null; ms: number }> {
  const started = performance.now()
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), boundMs)
  })
  try {
    const res = await Promise.race([run(), timeout])
    return { res, ms: Math.round(performance.now() - started) }
  } finally {
    clearTimeout(timer)
  }
}

/** Like timed(), but a hang fails the test right here. */
async function answered(
  run: () => Promise<LightMyRequestResponse>
): Promise<{ res: LightMyRequestResponse; ms: number }> {
  const { res, ms } = await timed(run)
  if (!res) throw new Error(`no answer within ${BOUND_MS} ms`)
  return { res, ms }
}

interface Rig {
  proxy: TcpProxy
  ctx: TestApp
  me(): Promise<LightMyRequestResponse>
  readyz(): Promise<LightMyRequestResponse>
  healthz(): Promise<LightMyRequestResponse>
}

/** A fresh database, a proxy in front of the real server, and an app that reaches the database only through it. */
async function rig(sub: string, env: Record<string, string> = {}): Promise<Rig> {
  const real = new URL(PG_URL!)
  const proxy = await startTcpProxy({ host: real.hostname || '127.0.0.1', port: Number(real.port || 5432) })
  t.teardown(() => proxy.stop())
  const viaProxy = new URL(await freshPostgresUrl(t))
  viaProxy.hostname = '127.0.0.1'
  viaProxy.port = String(proxy.port)
  const ctx = await buildTestApp(t, {
    databaseUrl: viaProxy.toString(),
    env: { DATABASE_CONNECT_TIMEOUT_S: String(CONNECT_TIMEOUT_S), ...env }
  })
  // Signing is local: the token needs no database, so it is minted before any outage.
  const token = await ctx.token(sub, { name: sub })
  return {
    proxy,
    ctx,
    me: () => ctx.request({ method: 'GET', url: '/v1/me', token }),
    readyz: () => ctx.request({ method: 'GET', url: '/readyz' }),
    healthz: () => ctx.request({ method: 'GET', url: '/healthz' })
  }
}

/** Switches the proxy: open connections are dropped, so only new connections meet the new mode. */
async function become(proxy: TcpProxy, mode: 'down' | 'forward' | 'reset' | 'close' | 'blackhole'): Promise<void> {
  await proxy.stop()
  if (mode !== 'down') await proxy.start(mode)
}

if (!onPostgres) {
  t.pass('needs PostgreSQL (set TEST_DATABASE_URL); nothing to do on PGlite')
} else {
  const { proxy, me, readyz, healthz } = await rig('Olivia')
  const measured: Record<string, number[]> = {}
  const record = (phase: string, ms: number) => {
    ;(measured[phase] ??= []).push(ms)
  }

  /** A 503 database-unavailable problem that tells nothing about the query, the driver or the database. */
  const assertUnavailable = (t: Test, res: LightMyRequestResponse) => {
    isProblem(t, res, 503, 'database-unavailable', 'the database is away')
    const p = problemOf(res)
    t.equal(p.status, 503)
    t.ok(Number(res.headers['retry-after']) > 0, 'a Retry-After header')
    t.same(
      Object.keys(p).sort(),
      ['code', 'detail', 'instance', 'requestId', 'status', 'title', 'type'],
      'only the problem members'
    )
    t.notMatch(
      res.body,
      /stack|\bat .+:\d+|node_modules|select |from "|insert |where |olivia|ECONN|CONNECT_TIMEOUT|accord_t_|postgres/i,
      'no stack, SQL or driver detail'
    )
    t.notOk(res.body.includes(`127.0.0.1:${proxy.port}`), 'no database address')
  }

  /** GET /readyz says "not ready" as a 503 that asks to retry. */
  const assertNotReady = (t: Test, res: LightMyRequestResponse) => {
    isProblem(t, res, 503, 'database-unavailable', 'not ready')
    t.ok(Number(res.headers['retry-after']) > 0, 'a Retry-After header')
  }

  t.test('through the proxy, while the database is up, GET /v1/me is 200', async (t) => {
    const { res } = await answered(me)
    t.equal(res.statusCode, 200)
    t.equal(res.json().displayName, 'Olivia')
    t.equal((await answered(readyz)).res.statusCode, 200)
    t.ok(proxy.accepted > 0, 'the app really talks through the proxy')
  })

  t.test('when the database is down (connections dropped, port closed)', async (t) => {
    await become(proxy, 'down')

    t.test('GET /v1/me is 503 database-unavailable within the bound, again and again', async (t) => {
      for (let i = 0; i < 3; i++) {
        const { res, ms } = await answered(me)
        record('down /v1/me', ms)
        assertUnavailable(t, res)
        t.ok(ms < BOUND_MS, `answered in ${ms} ms`)
      }
    })

    t.test('GET /readyz is 503 within the bound', async (t) => {
      const { res, ms } = await answered(readyz)
      record('down /readyz', ms)
      assertNotReady(t, res)
      t.ok(ms < BOUND_MS, `answered in ${ms} ms`)
    })

    t.test('GET /healthz is still 200: the process is alive', async (t) => {
      const { res } = await answered(healthz)
      t.equal(res.statusCode, 200)
      t.same(res.json(), { status: 'ok' })
    })
  })

  t.test('when every new connection is reset at once', async (t) => {
    await become(proxy, 'reset')

    t.test('GET /v1/me is 503 database-unavailable within the bound', async (t) => {
      for (let i = 0; i < 3; i++) {
        const { res, ms } = await answered(me)
        record('reset /v1/me', ms)
        assertUnavailable(t, res)
        t.ok(ms < BOUND_MS, `answered in ${ms} ms`)
      }
    })

    t.test('GET /readyz is 503 within the bound', async (t) => {
      const { res, ms } = await answered(readyz)
      record('reset /readyz', ms)
      assertNotReady(t, res)
      t.ok(ms < BOUND_MS, `answered in ${ms} ms`)
    })
  })

  t.test('when the database is blackholed (accepts TCP, never answers)', async (t) => {
    await become(proxy, 'blackhole')

    t.test('GET /v1/me is 503 database-unavailable after the connect timeout, not a hang', async (t) => {
      for (let i = 0; i < 2; i++) {
        const { res, ms } = await answered(me)
        record('blackhole /v1/me', ms)
        assertUnavailable(t, res)
        t.ok(ms >= CONNECT_TIMEOUT_S * 1000 - 100, `waited for the connect timeout (${ms} ms)`)
        t.ok(ms < BOUND_MS, `answered in ${ms} ms`)
      }
    })

    t.test('GET /readyz is 503 within the bound', async (t) => {
      const { res, ms } = await answered(readyz)
      record('blackhole /readyz', ms)
      assertNotReady(t, res)
      t.ok(ms < BOUND_MS, `answered in ${ms} ms`)
    })

    t.test('GET /healthz is still 200 at once', async (t) => {
      const { res, ms } = await answered(healthz)
      t.equal(res.statusCode, 200)
      t.ok(ms < 1000, `answered in ${ms} ms`)
    })
  })

  t.test('when the database comes back on the same address, the same app recovers without a restart', async (t) => {
    await become(proxy, 'forward')
    const started = performance.now()
    let res: LightMyRequestResponse | null = null
    for (let attempt = 0; attempt < 40; attempt++) {
      res = (await answered(me)).res
      if (res.statusCode === 200) break
      await sleep(250)
    }
    record('recovery', Math.round(performance.now() - started))
    t.equal(res?.statusCode, 200, 'GET /v1/me is 200 again')
    t.equal(res?.json().displayName, 'Olivia', 'the same user, provisioned before the outage')
    t.equal((await answered(readyz)).res.statusCode, 200, 'GET /readyz is 200 again')
  })

  /*
   * postgres.js 3.4 bounds a connection attempt by connect_timeout, but a
   * connection the server closes cleanly (FIN, no error) during start-up is
   * retried, forever, and each attempt restarts the connect timer, so the query
   * never settles. Docker's port proxy or a TCP load balancer in front of a
   * stopped database does exactly this. The handler timeout (REQUEST_TIMEOUT_MS)
   * answers such a request with a 503 timed-out problem.
   */
  t.test('when every new connection is closed cleanly at once (on a second app)', async (t) => {
    // REQUEST_TIMEOUT_MS under the bound, so that the handler timeout answers before it.
    const gap = await rig('Grace', { REQUEST_TIMEOUT_MS: '5000' })
    t.equal((await answered(gap.me)).res.statusCode, 200, 'up at first')
    await become(gap.proxy, 'close')
    const before = gap.proxy.accepted
    const pending = gap.me()
    const { res, ms } = await timed(() => pending)
    record('close /v1/me', ms)
    t.comment(`${gap.proxy.accepted - before} connection attempts in ${ms} ms`)
    t.ok(res !== null, `GET /v1/me answers within ${BOUND_MS} ms (took ${res ? ms : `more than ${BOUND_MS}`} ms)`)
    if (res) {
      t.equal(res.statusCode, 503)
      // Either the driver gives up on the connection (database-unavailable) or the handler timeout answers (timed-out).
      t.match(problemOf(res).code, /^(database-unavailable|timed-out)$/)
      t.equal(res.headers['retry-after'], '5')
    }
    const ready = await answered(gap.readyz)
    assertNotReady(t, ready.res)
    t.ok(ready.ms < BOUND_MS, `GET /readyz, which races its own 2 s timer, is 503 meanwhile (${ready.ms} ms)`)
    await become(gap.proxy, 'down') // a refused connection finally rejects the stuck query
    const late = await answered(() => pending)
    t.equal(late.res.statusCode, 503, 'the stuck request ends as a 503 once connections are refused')
  })

  t.test('timings', async (t) => {
    t.comment(`measured (ms): ${JSON.stringify(measured)}`)
    t.pass('recorded')
  })
}
