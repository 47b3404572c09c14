import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { isLoopbackAddress } from '../../src/http/loopback.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem, problemOf } from '../helpers/problems.ts'

const TOKEN = 'm3tr1cs-t0ken-0123456789abcdef-ABCDEF'
const STRANGER = '203.0.113.5'

t.test('without METRICS_TOKEN, /metrics is for loopback clients only', async (t) => {
  const ctx = await buildTestApp(t)
  for (const remoteAddress of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
    const res = await ctx.app.inject({ method: 'GET', url: '/metrics', remoteAddress })
    t.equal(res.statusCode, 200, `${remoteAddress} may read it`)
    t.match(res.body, /^# HELP /m)
  }

  const unknown = await ctx.app.inject({ method: 'GET', url: '/no-such-route', remoteAddress: STRANGER })
  for (const [what, res] of [
    ['a non-loopback client', await ctx.app.inject({ method: 'GET', url: '/metrics', remoteAddress: STRANGER })],
    [
      'a request a local proxy forwarded',
      await ctx.app.inject({ method: 'GET', url: '/metrics', headers: { 'x-forwarded-for': STRANGER } })
    ],
    [
      'one forwarded the standard way',
      await ctx.app.inject({ method: 'GET', url: '/metrics', headers: { forwarded: `for=${STRANGER}` } })
    ],
    [
      'a stranger with a token',
      await ctx.app.inject({
        method: 'GET',
        url: '/metrics',
        remoteAddress: STRANGER,
        headers: { authorization: `Bearer ${TOKEN}` }
      })
    ]
  ] as const) {
    isProblem(t, res, 404, 'not-found', what)
    t.notMatch(res.body, /accord_/, `${what}: no metric in the answer`)
    t.equal(problemOf(res).title, problemOf(unknown).title, `${what}: the same problem as any unknown route`)
    t.equal(problemOf(res).detail, 'no route GET /metrics')
    t.equal(res.headers['www-authenticate'], undefined, `${what}: no challenge that would reveal it`)
  }
})

t.test('with METRICS_TOKEN, /metrics needs it from anywhere', async (t) => {
  const ctx = await buildTestApp(t, { env: { METRICS_TOKEN: TOKEN } })
  const get = (remoteAddress: string, authorization?: string) =>
    ctx.app.inject({
      method: 'GET',
      url: '/metrics',
      remoteAddress,
      ...(authorization === undefined ? {} : { headers: { authorization } })
    })

  for (const from of ['127.0.0.1', STRANGER]) {
    const missing = await get(from)
    isProblem(t, missing, 401, 'token-required', `no token from ${from}`)
    t.equal(missing.headers['www-authenticate'], 'Bearer realm="accord-metrics"', 'the challenge names the scheme')
    for (const wrong of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, 'Bearer short', `Basic ${TOKEN}`, TOKEN]) {
      const res = await get(from, wrong)
      isProblem(t, res, 401, 'token-invalid', `${wrong.slice(0, 12)}… from ${from}`)
      t.equal(res.headers['www-authenticate'], 'Bearer realm="accord-metrics", error="invalid_token"')
      t.notMatch(res.body, /accord_http/)
    }
    const ok = await get(from, `Bearer ${TOKEN}`)
    t.equal(ok.statusCode, 200, `the right token from ${from}`)
    t.match(ok.headers['content-type'], /^text\/plain/)
    t.match(ok.body, /accord_http_requests_total/)
  }
  const token = await ctx.token('someone')
  isProblem(t, await get(STRANGER, `Bearer ${token}`), 401, 'token-invalid', 'an API token is not the metrics token')
})

t.test('METRICS_TOKEN is validated at start', async (t) => {
  const load = (token: string) => () => loadConfig({ DATA_DIR: ':memory:', METRICS_TOKEN: token })
  t.equal(load(TOKEN)().metricsToken, TOKEN, 'a long token is taken')
  t.equal(loadConfig({ DATA_DIR: ':memory:' }).metricsToken, null, 'unset: loopback only')
  for (const [bad, why] of [
    ['too-short-1234', /METRICS_TOKEN: must be at least 32 characters/],
    [`${'a'.repeat(40)} with spaces`, /METRICS_TOKEN: must be a bearer token/],
    [`${'é'.repeat(40)}`, /METRICS_TOKEN: must be a bearer token/]
  ] as const) {
    t.throws(load(bad), ConfigError, 'a ConfigError')
    t.throws(load(bad), { message: why }, `naming the variable and why (${bad.slice(0, 10)}…)`)
    try {
      load(bad)()
    } catch (err) {
      t.notOk((err as Error).message.includes(bad), 'without echoing the secret')
    }
  }
})

t.test('what counts as a loopback client', async (t) => {
  for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) t.ok(isLoopbackAddress(a), a)
  for (const a of [STRANGER, '10.0.0.1', '::ffff:10.0.0.1', '0.0.0.0', '::', 'localhost', '1127.0.0.1', undefined])
    t.notOk(isLoopbackAddress(a), String(a))
})
