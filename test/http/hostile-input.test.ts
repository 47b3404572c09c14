import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { agreementKit, content } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem, problemOf } from '../helpers/problems.ts'
import { reviewKit } from '../helpers/reviews.ts'

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const r = reviewKit(ctx, k)

const alice = await k.person('Alice')
const bob = await k.person('Bob')
const stranger = await k.person('Stranger')
const pid = await r.partnership('Europe/Paris', alice, [bob])
const aid = await k.activeAgreement(alice, [bob], pid)
const review = (await r.openEarly(alice, pid, aid)).json()
k.expectStatus(await k.proposeVersion(alice, pid, aid, { basedOn: 1, content: content() }), 201, 'an open proposal')

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

/** A 400 validation-failed that names `path` (in `where`), and nothing in the partnership changed. */
async function refused(t: Tap, res: LightMyRequestResponse, where: string, path: string, what: string): Promise<void> {
  isProblem(t, res, 400, 'validation-failed', what)
  const errors = problemOf(res).errors ?? []
  t.ok(
    errors.some((e) => (e as { in?: string }).in === where && e.path === path),
    `${what}: names ${where} ${path} (${JSON.stringify(errors)})`
  )
}

t.test('strings the database cannot store (NUL, unpaired surrogates) are a 400 wherever a string enters', async (t) => {
  const hostile = {
    'a NUL': 'before\u0000after',
    'only a NUL': '\u0000',
    'a lone high surrogate': 'before\ud800after',
    'a lone low surrogate': '\udfff',
    'a reversed pair': '\udc00\ud800'
  }
  const head = await k.headSeq(alice, pid)
  const before = await k.snapshot(alice, pid, aid)
  const { etag: partnershipTag } = {
    etag: (await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}`, token: alice.token })).headers
      .etag as string
  }
  for (const [name, bad] of Object.entries(hostile)) {
    const clause = (over: Record<string, unknown>) =>
      content({ clauses: [{ key: 'k', text: 'fine', consequences: ['fine'], ...over }] })
    const cases: Array<[string, () => Promise<LightMyRequestResponse>, string]> = [
      [
        'partnership name',
        () =>
          ctx.request({
            method: 'POST',
            url: '/v1/partnerships',
            token: alice.token,
            body: { name: bad, timezone: 'Europe/Paris' }
          }),
        '/name'
      ],
      [
        'partnership rename',
        () =>
          ctx.request({
            method: 'PATCH',
            url: `/v1/partnerships/${pid}`,
            token: alice.token,
            headers: { 'if-match': partnershipTag },
            body: { name: bad }
          }),
        '/name'
      ],
      [
        'display name',
        () =>
          ctx.request({
            method: 'PATCH',
            url: '/v1/me',
            token: alice.token,
            headers: { 'if-match': '*' },
            body: { displayName: bad }
          }),
        '/displayName'
      ],
      [
        'title',
        () =>
          ctx.request({
            method: 'POST',
            url: k.agreementsUrl(pid),
            token: alice.token,
            body: { content: content({ title: bad }) }
          }),
        '/content/title'
      ],
      [
        'clause text',
        () =>
          ctx.request({
            method: 'POST',
            url: k.agreementsUrl(pid),
            token: alice.token,
            body: { content: clause({ text: bad }) }
          }),
        '/content/clauses/0/text'
      ],
      [
        'consequence',
        () =>
          ctx.request({
            method: 'POST',
            url: k.agreementsUrl(pid),
            token: alice.token,
            body: { content: clause({ consequences: ['ok', bad] }) }
          }),
        '/content/clauses/0/consequences/1'
      ],
      [
        'version note',
        () => k.proposeVersion(alice, pid, aid, { basedOn: 1, counterTo: 2, content: content({ note: bad }) }),
        '/content/note'
      ],
      [
        'retirement note',
        () => k.proposeVersion(alice, pid, aid, { basedOn: 1, counterTo: 2, kind: 'retirement', note: bad }),
        '/note'
      ],
      [
        'decline reason',
        () =>
          ctx.request({
            method: 'POST',
            url: `${k.versionUrl(pid, aid, 2)}/decline`,
            token: bob.token,
            body: { reason: bad }
          }),
        '/reason'
      ],
      ['review note', () => r.answer(bob, pid, aid, review.id, { outcome: 'keep', rating: 3, note: bad }), '/note'],
      [
        'invitation token',
        () =>
          ctx.request({ method: 'POST', url: '/v1/invitations/accept', token: stranger.token, body: { token: bad } }),
        '/token'
      ],
      [
        'a key of the body',
        () =>
          ctx.request({
            method: 'POST',
            url: '/v1/partnerships',
            token: alice.token,
            body: { name: 'ok', timezone: 'Europe/Paris', [bad]: 1 }
          }),
        `/${bad}`
      ],
      [
        'a body of a route that takes none',
        () => ctx.request({ method: 'POST', url: r.reviewsUrl(pid, aid), token: alice.token, body: { x: bad } }),
        '/x'
      ]
    ]
    for (const [field, send, path] of cases) await refused(t, await send(), 'body', path, `${name} in the ${field}`)
    if (ctx.deps.config.auth.devTokens) {
      await refused(
        t,
        await ctx.request({ method: 'POST', url: '/v1/dev/tokens', body: { sub: bad } }),
        'body',
        '/sub',
        `${name} in a dev token's sub`
      )
      await refused(
        t,
        await ctx.request({ method: 'POST', url: '/v1/dev/tokens', body: { sub: 'ok', name: bad } }),
        'body',
        '/name',
        `${name} in a dev token's name`
      )
    }
  }
  // In a URL: a percent-encoded NUL decodes to one.
  await refused(
    t,
    await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/events?cursor=a%00b`, token: alice.token }),
    'query',
    '/cursor',
    'NUL in a query value'
  )
  await refused(
    t,
    await ctx.request({
      method: 'GET',
      url: `/v1/partnerships/${pid}/agreements?status=active%00`,
      token: alice.token
    }),
    'query',
    '/status',
    'NUL in a query filter'
  )
  await refused(
    t,
    await ctx.request({ method: 'GET', url: '/problems/not-found%00', token: alice.token }),
    'path',
    '/code',
    'NUL in a path parameter'
  )
  t.same(await k.snapshot(alice, pid, aid), before, 'the agreement, its versions and signatures did not change')
  t.equal(await k.headSeq(alice, pid), head, 'nothing was appended to the log')
})

t.test("integers beyond PostgreSQL's integer are a 400, for members and strangers alike", async (t) => {
  const cursor = (key: unknown) => Buffer.from(JSON.stringify(key)).toString('base64url')
  const events = `/v1/partnerships/${pid}/events`
  for (const who of [alice, stranger]) {
    for (const big of ['2147483648', '9007199254740993', '1e308', '-1', '1.5']) {
      await refused(
        t,
        await ctx.request({ method: 'GET', url: `${events}?after=${big}`, token: who.token }),
        'query',
        '/after',
        `after=${big} (${who.name})`
      )
      await refused(
        t,
        await ctx.request({ method: 'GET', url: `${k.versionUrl(pid, aid, 1)}/diff?against=${big}`, token: who.token }),
        'query',
        '/against',
        `against=${big} (${who.name})`
      )
      await refused(
        t,
        await ctx.request({ method: 'GET', url: `${events}?limit=${big}`, token: who.token }),
        'query',
        '/limit',
        `limit=${big} (${who.name})`
      )
      await refused(
        t,
        await ctx.request({ method: 'GET', url: k.versionUrl(pid, aid, big as unknown as number), token: who.token }),
        'path',
        '/n',
        `version ${big} in the path (${who.name})`
      )
    }
    isProblem(
      t,
      await ctx.request({ method: 'GET', url: `${events}?cursor=${cursor({ seq: 2 ** 31 })}`, token: who.token }),
      400,
      'invalid-cursor',
      `a cursor past the integer range (${who.name})`
    )
    isProblem(
      t,
      await ctx.request({
        method: 'GET',
        url: `${k.agreementUrl(pid, aid)}/versions?cursor=${cursor({ n: 2 ** 53 + 1 })}`,
        token: who.token
      }),
      400,
      'invalid-cursor',
      `a version cursor past the integer range (${who.name})`
    )
  }
  for (const [field, value] of [
    ['basedOn', 2 ** 31],
    ['basedOn', 2 ** 53 + 1],
    ['counterTo', 2 ** 31],
    ['basedOn', -1],
    ['basedOn', 1e308]
  ] as const) {
    await refused(
      t,
      await k.proposeVersion(alice, pid, aid, { basedOn: 1, content: content(), [field]: value }),
      'body',
      `/${field}`,
      `${field}: ${value}`
    )
  }
  await refused(
    t,
    await r.answer(bob, pid, aid, review.id, { outcome: 'keep', rating: 2 ** 31 }),
    'body',
    '/rating',
    'a rating of 2^31'
  )
})

t.test('bodies nested deeper than any request needs are refused before anything walks them', async (t) => {
  for (const depth of [33, 1000, 20000]) {
    const deep = `${'['.repeat(depth)}${']'.repeat(depth)}`
    for (const url of ['/v1/partnerships', r.reviewsUrl(pid, aid), `${k.versionUrl(pid, aid, 2)}/withdraw`]) {
      const res = await ctx.request({
        method: 'POST',
        url,
        token: alice.token,
        headers: { 'content-type': 'application/json', 'idempotency-key': `deep-${depth}-${url}` },
        payload: `{"x":${deep}}`
      })
      isProblem(t, res, 400, 'validation-failed', `${depth} levels at ${url}`)
    }
  }
  const fine = `{"name":"Nested","timezone":"Europe/Paris","x":${'['.repeat(31)}${']'.repeat(31)}}`
  isProblem(
    t,
    await ctx.request({
      method: 'POST',
      url: '/v1/partnerships',
      token: alice.token,
      headers: { 'content-type': 'application/json' },
      payload: fine
    }),
    400,
    'validation-failed',
    'within the depth, the schema answers (unknown field)'
  )
  t.match(
    problemOf(
      await ctx.request({
        method: 'POST',
        url: '/v1/partnerships',
        token: alice.token,
        headers: { 'content-type': 'application/json' },
        payload: fine
      })
    ).errors,
    [{ path: '/x' }]
  )
})

t.test('numbers JSON can spell but no finite number holds are a 400, with or without an Idempotency-Key', async (t) => {
  for (const [url, payload, path] of [
    ['/v1/partnerships', '{"name":"N","timezone":"UTC","x":1e309}', '/x'],
    [r.reviewsUrl(pid, aid), '{"n":-1e400}', '/n'],
    [r.reviewsUrl(pid, aid), `{"n":${'9'.repeat(400)}}`, '/n'],
    [`${k.versionUrl(pid, aid, 2)}/withdraw`, '[1E+999]', '/0']
  ] as const) {
    for (const headers of [{}, { 'idempotency-key': `inf-${url}-${payload.length}` }]) {
      const res = await ctx.request({
        method: 'POST',
        url,
        token: alice.token,
        headers: { 'content-type': 'application/json', ...headers },
        payload
      })
      await refused(t, res, 'body', path, `${payload.slice(0, 30)} at ${url}`)
    }
  }
})

t.test('keys reserved by JavaScript are refused with a detail that says so', async (t) => {
  for (const payload of [
    '{"__proto__":{"x":1}}',
    '{"name":"a","timezone":"UTC","nested":{"__proto__":{}}}',
    '{"constructor":{"prototype":{"x":1}}}'
  ]) {
    const res = await ctx.request({
      method: 'POST',
      url: '/v1/partnerships',
      token: alice.token,
      headers: { 'content-type': 'application/json' },
      payload
    })
    isProblem(t, res, 400, 'validation-failed', payload)
    t.match(problemOf(res).detail, /__proto__/, 'the detail names the reserved key')
  }
})

t.test(
  'a body of many bad items lists 20 of them and counts them all: no answer larger than its request',
  async (t) => {
    const unknownKeys = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, 0]))
    const res = await ctx.request({
      method: 'POST',
      url: '/v1/partnerships',
      token: alice.token,
      body: { name: 'Many keys', timezone: 'UTC', ...unknownKeys }
    })
    isProblem(t, res, 400, 'validation-failed')
    const problem = problemOf(res)
    t.equal(problem.errors?.length, 20, 'twenty listed')
    t.match(problem.detail, /^500 problems in the request body; the first 20 are listed$/)
    t.same(problem.errors?.[0], { in: 'body', path: '/k0', message: 'unknown field "k0"' })
    t.ok(res.body.length < 4096, `the answer stays small (${res.body.length} bytes)`)
    const few = problemOf(
      await ctx.request({
        method: 'POST',
        url: '/v1/partnerships',
        token: alice.token,
        body: { name: 'Many keys', timezone: 'UTC', x: 1 }
      })
    )
    t.equal(few.detail, '1 problem in the request body', 'under the cap, nothing is said of it')
    // Keys the database cannot store, found before any schema runs: the walk stops one past the listed twenty.
    const nulKeys = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`\u0000${i}`, 0]))
    const unstorable = await ctx.request({
      method: 'POST',
      url: '/v1/partnerships',
      token: alice.token,
      body: { name: 'Many keys', timezone: 'UTC', ...nulKeys }
    })
    isProblem(t, unstorable, 400, 'validation-failed')
    t.equal(problemOf(unstorable).errors?.length, 20, 'twenty listed')
    t.equal(problemOf(unstorable).detail, 'more than 20 values in the body cannot be stored')
    t.ok(unstorable.body.length < 4096, `that answer stays small too (${unstorable.body.length} bytes)`)
    const mine = await ctx.request({ method: 'GET', url: '/v1/partnerships', token: alice.token })
    t.notOk(JSON.stringify(mine.json()).includes('Many keys'), 'and nothing was created')
  }
)
