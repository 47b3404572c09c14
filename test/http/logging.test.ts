import { sql } from 'drizzle-orm'
import t from 'tap'
import { agreementKit, content } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem } from '../helpers/problems.ts'
import { reviewKit } from '../helpers/reviews.ts'

// Class: intimate text reaching the logs through the messages of failed queries (drizzle's "Failed query … params",
// PostgreSQL's and PGlite's messages and details quoting values). Every free-text field carries the sentinel,
// the database then refuses every write, and no log line may contain it.
const SENTINEL = 'Zq7-sentinel-intimate'
const found = (lines: string[]): string[] => lines.filter((l) => l.toLowerCase().includes(SENTINEL.toLowerCase()))

// This file makes the database fail on purpose: its 500s are the point, not undocumented answers.
const ctx = await buildTestApp(t, { captureLogs: true, allowInternalErrors: true })
const k = agreementKit(ctx)
const r = reviewKit(ctx, k)

t.test(
  'database failures are logged by SQLSTATE, constraint and table, never by the text of the request',
  async (t) => {
    const alice = await k.person(`Alice ${SENTINEL}`)
    const bob = await k.person('Bob')
    const pid = await r.partnership('Europe/Paris', alice, [bob])
    const aid = await k.activeAgreement(alice, [bob], pid, content({ title: `Title ${SENTINEL}` }))
    const review = (await r.openEarly(alice, pid, aid)).json()
    const proposal = await k.proposeVersion(alice, pid, aid, { basedOn: 1, content: content() })
    t.equal(proposal.statusCode, 201, 'an open proposal to decline')
    t.same(found(ctx.logs), [], 'arranging logged no free text (names, titles) either')

    await ctx.database.rows(
      sql.raw(`create function accord_test_refuse() returns trigger language plpgsql as $$
    begin raise exception using message = 'refused by the logging test', errcode = 'P0001', table = tg_table_name; end $$`)
    )
    for (const table of ['users', 'partnerships', 'agreements', 'agreement_versions', 'review_responses']) {
      await ctx.database.rows(
        sql.raw(
          `create trigger accord_test_refuse before insert or update on ${table} for each row execute function accord_test_refuse()`
        )
      )
    }
    t.teardown(async () => {
      for (const table of ['users', 'partnerships', 'agreements', 'agreement_versions', 'review_responses']) {
        await ctx.database.rows(sql.raw(`drop trigger if exists accord_test_refuse on ${table}`))
      }
    })

    const text = (what: string) => `${what} ${SENTINEL} ${what}`
    const partnership = await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}`, token: alice.token })
    const attempts = {
      'a new user named by the token': await ctx.request({
        method: 'GET',
        url: '/v1/me',
        token: await ctx.token(`carol-${Date.now()}`, { name: text('Carol') })
      }),
      'PATCH /v1/me displayName': await ctx.request({
        method: 'PATCH',
        url: '/v1/me',
        token: alice.token,
        headers: { 'if-match': '*' },
        body: { displayName: text('Name') }
      }),
      'POST /v1/partnerships name': await ctx.request({
        method: 'POST',
        url: '/v1/partnerships',
        token: alice.token,
        body: { name: text('Us'), timezone: 'Europe/Paris' }
      }),
      'PATCH partnership name': await ctx.request({
        method: 'PATCH',
        url: `/v1/partnerships/${pid}`,
        token: alice.token,
        headers: { 'if-match': partnership.headers.etag as string },
        body: { name: text('Us') }
      }),
      'POST agreements (title, clause, consequence, note)': await ctx.request({
        method: 'POST',
        url: k.agreementsUrl(pid),
        token: alice.token,
        body: {
          content: content({
            title: text('Title'),
            note: text('Note'),
            clauses: [{ key: 'k', text: text('Clause'), consequences: [text('Consequence')] }]
          })
        }
      }),
      'POST …/decline reason': await ctx.request({
        method: 'POST',
        url: `${k.versionUrl(pid, aid, 2)}/decline`,
        token: bob.token,
        body: { reason: text('Reason') }
      }),
      'PUT review answer note': await r.answer(bob, pid, aid, review.id, {
        outcome: 'keep',
        rating: 4,
        note: text('Note')
      })
    }
    for (const [what, res] of Object.entries(attempts)) {
      isProblem(t, res, 500, 'internal', `${what}: the refused write`)
      t.notMatch(res.body, SENTINEL, `${what}: the answer does not echo it either`)
    }

    const failures = ctx.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request failed')
    t.ok(failures.length >= Object.keys(attempts).length, 'every failure was logged')
    for (const f of failures) {
      t.equal(f.err.sqlstate, 'P0001', 'logged by SQLSTATE')
      t.ok(
        ['users', 'partnerships', 'agreements', 'agreement_versions', 'review_responses'].includes(f.err.table),
        `logged with its table (${f.err.table})`
      )
      t.notOk('message' in f.err, 'no message')
    }
    t.same(found(ctx.logs), [], 'no log line holds any of the text')
    t.notOk(
      ctx.logs.some((l) => /failed query|params:/i.test(l)),
      'no query text or parameter list'
    )
  }
)

t.test(
  'secrets in URLs are masked in the logs however the path is spelled, and every answer is no-store (class: decisions on the raw URL)',
  async (t) => {
    const dan = await k.person('Dan')
    const created = await ctx.request({ method: 'POST', url: '/v1/me/calendar-tokens', token: dan.token })
    const { token } = created.json() as { token: string }
    const secret = token.slice('acc_cal_'.length)
    const spellings = [
      `/v1/calendar/${token}.ics`,
      `/v1/%63alendar/${token}.ics`,
      `/%761/calendar/${token}.ics`,
      `/v1/calendar/%61cc_cal_${secret}.ics`,
      `/v1/calendar/${token}.ics?again=${token}`,
      `/v1/calendar/${token}.ics/extra`,
      `/v1/calendars/${token}.ics`,
      `/v2/${token}`
    ]
    for (const url of spellings) {
      const res = await ctx.request({ method: 'GET', url })
      t.ok(res.statusCode < 500, `${url.slice(0, 30)}…: answered ${res.statusCode}`)
      if (res.statusCode === 200)
        t.equal(res.headers['cache-control'], 'private, max-age=300', 'the feed says how it may be cached')
      else t.equal(res.headers['cache-control'], 'no-store', 'anything else is no-store')
    }
    for (const url of ['/%761/me', '/v1/m%65', '/V1/me', '/v1//me']) {
      const res = await ctx.request({ method: 'GET', url, token: dan.token })
      t.equal(res.headers['cache-control'], 'no-store', `${url}: no-store (${res.statusCode})`)
      t.ok(res.headers['x-request-id'], `${url}: x-request-id`)
    }
    const leaked = ctx.logs.filter((l) => l.includes(secret))
    t.same(leaked, [], 'the feed secret is in no log line')
    t.ok(
      ctx.logs.some((l) => l.includes('/v1/calendar/[redacted]')),
      'the feed requests are logged, masked'
    )
  }
)

// Each request's child logger (bound to its request id) is made only when the request first logs at an enabled
// level: with the redaction paths, pino ran the redactor over every request's binding, a tenth of what a GET
// allocated, for requests that mostly log nothing.
t.test('a request makes its child logger only when it logs, and its lines carry its request id', async (t) => {
  const root = ctx.app.log as typeof ctx.app.log & { level: string }
  const made = { count: 0 }
  const child = root.child.bind(root)
  root.child = ((...args: Parameters<typeof root.child>) => {
    made.count++
    return child(...args)
  }) as typeof root.child
  const level = root.level
  t.teardown(() => {
    root.child = child
    root.level = level
  })
  const erin = await k.person('Erin') // at trace level: its requests log, and make their children
  const before = ctx.logs.length
  made.count = 0

  root.level = 'warn'
  for (let i = 0; i < 10; i++) {
    const res = await ctx.request({ method: 'GET', url: '/v1/me', token: erin.token })
    t.equal(res.statusCode, 200)
  }
  t.equal(made.count, 0, 'ten answered GETs at LOG_LEVEL=warn made no child logger')
  t.equal(ctx.logs.length, before, 'and wrote no line')

  root.level = 'info'
  const res = await ctx.request({ method: 'GET', url: '/v1/me', token: erin.token })
  const id = res.headers['x-request-id'] as string
  t.equal(made.count, 1, 'a request that logs makes one, once')
  const lines = ctx.logs.slice(before).map((l) => JSON.parse(l) as { requestId?: string; msg?: string })
  t.same(
    lines.map((l) => [l.msg, l.requestId]),
    [
      ['incoming request', id],
      ['request completed', id]
    ],
    "both of Fastify's lines for the request, each with its request id"
  )
})
