import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem, problemOf } from '../helpers/problems.ts'

const ctx = await buildTestApp(t, {
  register(app) {
    app.get('/v1/test/boom', async () => {
      throw new Error('select secret_text from agreements where id = $1')
    })
  }
})
const token = await ctx.token('carol', { name: 'Carol' })
const etag = (await ctx.request({ method: 'GET', url: '/v1/me', token })).headers.etag as string

t.test('every error is RFC 9457 problem+json with a stable code', async (t) => {
  t.test('an unknown route is 404 not-found', async (t) => {
    const res = await ctx.request({ method: 'GET', url: '/v1/nowhere', token })
    t.equal(res.statusCode, 404)
    const p = problemOf(res)
    t.match(p, { status: 404, code: 'not-found', title: 'Not found' })
    t.match(p.type, /\/problems\/not-found$/)
  })

  t.test('malformed JSON is 400 malformed-json and changes nothing', async (t) => {
    const res = await ctx.request({
      method: 'PATCH',
      url: '/v1/me',
      token,
      headers: { 'if-match': etag, 'content-type': 'application/json' },
      payload: '{"displayName": "Oops",'
    })
    isProblem(t, res, 400, 'malformed-json', 'a truncated body')
    const empty = await ctx.request({
      method: 'PATCH',
      url: '/v1/me',
      token,
      headers: { 'if-match': etag, 'content-type': 'application/json' },
      payload: ''
    })
    isProblem(t, empty, 400, 'validation-failed', 'an empty body where one is needed: says the body is missing')
    const bodiless = await ctx.request({
      method: 'POST',
      url: '/v1/me/calendar-tokens',
      token,
      headers: { 'content-type': 'application/json' },
      payload: ''
    })
    t.equal(bodiless.statusCode, 201, 'a route that takes no body accepts an empty one sent as JSON')
    t.equal((await ctx.request({ method: 'GET', url: '/v1/me', token })).json().displayName, 'Carol')
  })

  t.test('a prototype-poisoning body is refused with 400', async (t) => {
    const res = await ctx.request({
      method: 'PATCH',
      url: '/v1/me',
      token,
      headers: { 'if-match': etag, 'content-type': 'application/json' },
      payload: '{"displayName":"X","__proto__":{"admin":true}}'
    })
    t.equal(res.statusCode, 400)
    problemOf(res)
  })

  t.test('a body over 64 KiB is 413 payload-too-large', async (t) => {
    const res = await ctx.request({
      method: 'PATCH',
      url: '/v1/me',
      token,
      headers: { 'if-match': etag },
      body: { displayName: 'x'.repeat(70 * 1024) }
    })
    isProblem(t, res, 413, 'payload-too-large', 'a 70 KiB body')
  })

  t.test('a body that is not JSON is 415 unsupported-media-type', async (t) => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const res = await ctx.request({
        method: 'PATCH',
        url: '/v1/me',
        token,
        headers: { 'if-match': etag, 'content-type': type },
        payload: 'displayName=X'
      })
      isProblem(t, res, 415, 'unsupported-media-type', type)
    }
  })

  t.test('an unexpected failure is 500 with a generic detail: no message, stack, SQL or path', async (t) => {
    const res = await ctx.request({ method: 'GET', url: '/v1/test/boom', token })
    isProblem(t, res, 500, 'internal', 'a handler that throws')
    t.notMatch(res.body, /secret_text|select|agreements|\.ts|at \w+ \(/)
  })

  t.test('the problem catalog documents every code', async (t) => {
    const list = await ctx.request({ method: 'GET', url: '/problems' })
    t.equal(list.statusCode, 200)
    const codes = list.json().items.map((i: { code: string }) => i.code)
    for (const c of [
      'validation-failed',
      'token-invalid',
      'precondition-required',
      'idempotency-key-reused',
      'database-unavailable'
    ])
      t.ok(codes.includes(c), c)
    t.match((await ctx.request({ method: 'GET', url: '/problems/precondition-failed' })).json(), { status: 412 })
    t.equal((await ctx.request({ method: 'GET', url: '/problems/no-such-code' })).statusCode, 404)
  })
})

t.test('response headers', async (t) => {
  t.test('x-request-id: a sane incoming id is echoed, anything else is replaced', async (t) => {
    const kept = await ctx.request({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'trace-123.abc' } })
    t.equal(kept.headers['x-request-id'], 'trace-123.abc')
    const replaced = await ctx.request({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-request-id': 'bad id\u0007<script>' }
    })
    t.match(replaced.headers['x-request-id'], /^[0-9a-f-]{36}$/)
    const onError = await ctx.request({ method: 'GET', url: '/v1/nowhere' })
    t.ok(onError.headers['x-request-id'], 'errors carry it too')
    isProblem(t, onError, 404, 'not-found', 'an unknown route')
  })

  t.test("/v1 responses are not cacheable and carry the API's security headers, not a page's", async (t) => {
    for (const res of [
      await ctx.request({ method: 'GET', url: '/v1/me', token }),
      await ctx.request({ method: 'GET', url: '/v1/nowhere', token })
    ]) {
      t.equal(res.headers['cache-control'], 'no-store')
      t.equal(
        res.headers['content-security-policy'],
        "default-src 'none'; frame-ancestors 'none'",
        'a CSP allowing nothing'
      )
      t.equal(res.headers['x-content-type-options'], 'nosniff')
      t.equal(res.headers['x-frame-options'], 'DENY')
      t.equal(res.headers['referrer-policy'], 'no-referrer')
      t.equal(res.headers['cross-origin-resource-policy'], 'same-site')
      t.match(res.headers['strict-transport-security'], /^max-age=\d+; includeSubDomains$/)
      for (const pageOnly of [
        'x-xss-protection',
        'x-dns-prefetch-control',
        'x-download-options',
        'origin-agent-cluster'
      ])
        t.notOk(res.headers[pageOnly], `no ${pageOnly}: it means something to a document only`)
    }
  })
})

t.test('CORS echoes configured origins exactly and nothing else', async (t) => {
  const cors = await buildTestApp(t, {
    database: ctx.database,
    env: { CORS_ORIGINS: 'https://app.example.com,https://counselor.example.org' }
  })
  const preflight = await cors.request({
    method: 'OPTIONS',
    url: '/v1/me',
    headers: {
      origin: 'https://app.example.com',
      'access-control-request-method': 'PATCH',
      'access-control-request-headers': 'authorization,if-match,content-type'
    }
  })
  t.equal(preflight.statusCode, 204)
  t.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.com')
  t.match(String(preflight.headers['access-control-allow-headers']), /if-match/)
  t.notOk(preflight.headers['access-control-allow-credentials'], 'bearer tokens only, no cookies')
  const other = await cors.request({ method: 'GET', url: '/healthz', headers: { origin: 'https://evil.example.net' } })
  t.notOk(other.headers['access-control-allow-origin'])
  const get = await cors.request({
    method: 'GET',
    url: '/v1/me',
    token: await cors.token('carol'),
    headers: { origin: 'https://counselor.example.org' }
  })
  t.equal(get.headers['access-control-allow-origin'], 'https://counselor.example.org')
  t.match(String(get.headers['access-control-expose-headers']), /etag/)
})

t.test(
  'without CORS_ORIGINS no origin is allowed: a preflight is an unknown route, a GET has no CORS header',
  async (t) => {
    const preflight = await ctx.request({
      method: 'OPTIONS',
      url: '/v1/me',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' }
    })
    isProblem(t, preflight, 404, 'not-found', 'the preflight')
    const get = await ctx.request({
      method: 'GET',
      url: '/v1/me',
      token: await ctx.token('cora'),
      headers: { origin: 'https://app.example.com' }
    })
    t.equal(get.statusCode, 200)
    for (const name of Object.keys(preflight.headers).concat(Object.keys(get.headers)))
      t.notOk(name.startsWith('access-control-'), `no ${name}`)
  }
)

t.test(
  'load shedding: while the event loop lags past OVERLOAD_EVENT_LOOP_DELAY_MS, 503 overloaded with Retry-After, then recovery',
  async (t) => {
    const shedding = await buildTestApp(t, { database: ctx.database, env: { OVERLOAD_EVENT_LOOP_DELAY_MS: '100' } })
    const token = await shedding.token('lena')
    t.equal((await shedding.request({ method: 'GET', url: '/v1/me', token })).statusCode, 200, 'answers before')
    // Keep the loop busy in 300 ms slices for 2.5 s: every one-second sample in it has a mean delay of about 300 ms.
    const until = Date.now() + 2500
    while (Date.now() < until) {
      const slice = Date.now() + 300
      while (Date.now() < slice) {}
      await new Promise((resolve) => setImmediate(resolve))
    }
    const shed = await shedding.request({ method: 'GET', url: '/v1/me', token })
    isProblem(t, shed, 503, 'overloaded', 'a request while the loop lags')
    t.equal(shed.headers['retry-after'], '5', 'Retry-After')
    await new Promise((resolve) => setTimeout(resolve, 2500))
    t.equal(
      (await shedding.request({ method: 'GET', url: '/v1/me', token })).statusCode,
      200,
      'answers again once it keeps up'
    )
  }
)

t.test('rate limiting is per caller: 429 with Retry-After past the limit', async (t) => {
  const limited = await buildTestApp(t, { database: ctx.database, env: { RATE_LIMIT_PER_MINUTE: '3' } })
  const dan = await limited.token('dan')
  const erin = await limited.token('erin')
  for (let i = 0; i < 3; i++)
    t.equal((await limited.request({ method: 'GET', url: '/v1/me', token: dan })).statusCode, 200)
  const res = await limited.request({ method: 'GET', url: '/v1/me', token: dan })
  isProblem(t, res, 429, 'rate-limited', 'the fourth request in a minute')
  t.match(res.headers['retry-after'], /^\d+$/)
  t.equal(
    (await limited.request({ method: 'GET', url: '/v1/me', token: erin })).statusCode,
    200,
    'another caller is not limited'
  )
  // Anonymous requests are limited per address: a fourth /problems is refused, while probes go on answering.
  for (let i = 0; i < 3; i++) await limited.request({ method: 'GET', url: '/problems' })
  isProblem(t, await limited.request({ method: 'GET', url: '/problems' }), 429, 'rate-limited', 'an anonymous caller')
  for (const url of ['/healthz', '/readyz', '/healthz', '/readyz']) {
    const probe = await limited.request({ method: 'GET', url })
    t.equal(probe.statusCode, 200, `${url} is not limited`)
    t.notOk(probe.headers['x-ratelimit-limit'], `${url} is not counted`)
  }
})

t.test(
  'failed authentication is rate limited per address: past the limit, 429 with Retry-After (class: unlimited token guessing)',
  async (t) => {
    const limited = await buildTestApp(t, { database: ctx.database, env: { AUTH_FAILURES_PER_MINUTE: '5' } })
    const good = await limited.token('frank')
    const fromA = { remoteAddress: '192.0.2.10' }
    const fromB = { remoteAddress: '192.0.2.11' }
    const failures = [
      { authorization: 'Bearer not-a-jwt' },
      {},
      { authorization: 'Basic Zm9vOmJhcg==' },
      { authorization: `Bearer ${good.slice(0, -4)}AAAA` },
      { authorization: 'Bearer a.b.c' }
    ]
    for (const headers of failures)
      t.equal(
        (await limited.app.inject({ method: 'GET', url: '/v1/me', headers, ...fromA })).statusCode,
        401,
        'a 401 counts'
      )
    const locked = await limited.app.inject({
      method: 'GET',
      url: '/v1/me',
      headers: { authorization: 'Bearer another-guess' },
      ...fromA
    })
    isProblem(t, locked, 429, 'rate-limited', 'the next attempt from that address')
    t.match(locked.headers['retry-after'], /^[1-9]\d*$/, 'with Retry-After')
    t.equal(
      (
        await limited.app.inject({
          method: 'GET',
          url: '/v1/me',
          headers: { authorization: `Bearer ${good}` },
          ...fromA
        })
      ).statusCode,
      429,
      'even a good token waits out the window there'
    )
    t.equal(
      (await limited.app.inject({ method: 'GET', url: '/healthz', ...fromA })).statusCode,
      200,
      'public routes still answer'
    )
    t.equal(
      (
        await limited.app.inject({
          method: 'GET',
          url: '/v1/me',
          headers: { authorization: `Bearer ${good}` },
          ...fromB
        })
      ).statusCode,
      200,
      'another address is not limited'
    )
    t.equal(
      (await limited.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: 'Bearer x.y.z' }, ...fromB }))
        .statusCode,
      401,
      'and its failures are counted on their own'
    )
  }
)

t.test(
  'every answer carries x-request-id, the security headers and no-store, router-level errors too (class: answers that skip the hooks)',
  async (t) => {
    const token = await ctx.token('gina')
    const cases: Array<[string, number]> = [
      [`/v1/partnerships/${'a'.repeat(300)}`, 400],
      [`/v1/partnerships/${'%41'.repeat(100)}/agreements`, 400],
      ['/v1/partnerships/%E0%A4%A', 400],
      ['/v1/partnerships/%zz', 400],
      ['/v1/no/such/route', 404],
      ['/v1/me', 200]
    ]
    for (const [url, status] of cases) {
      const res = await ctx.request({ method: 'GET', url, token, headers: { 'x-request-id': 'hooks-check-1' } })
      t.equal(res.statusCode, status, `${url.slice(0, 40)}: ${status}`)
      t.equal(res.headers['x-request-id'], 'hooks-check-1', 'x-request-id')
      t.equal(res.headers['cache-control'], 'no-store', 'no-store')
      t.equal(res.headers['x-content-type-options'], 'nosniff', "helmet's headers")
      t.ok(res.headers['content-security-policy'], 'a CSP')
      if (status >= 400) t.match(res.headers['content-type'], /^application\/problem\+json/, 'a problem')
    }
  }
)
