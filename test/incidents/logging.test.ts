import { sql } from 'drizzle-orm'
import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { incidentKit, incidentTerms } from '../helpers/incidents.ts'
import { isProblem } from '../helpers/problems.ts'

// Class: the most intimate text the API holds (what happened, apologies, disputes, how it was resolved, thanks)
// reaching the logs: on success, on every kind of refusal (the sentinel in the body, the query, a field name, a
// body that is not JSON), and through the messages of failed queries. No log line may contain it.
const SENTINEL = 'Zq7-sentinel-incident'
const found = (lines: string[]): string[] => lines.filter((l) => l.toLowerCase().includes(SENTINEL.toLowerCase()))
const text = (what: string): string => `${what} ${SENTINEL} ${what}`

// The second test makes the database fail on purpose: its 500s are the point, not undocumented answers.
const ctx = await buildTestApp(t, { captureLogs: true, allowInternalErrors: true })
const k = agreementKit(ctx)
const i = incidentKit(ctx, k)

async function arrange() {
  const [alice, bob, olga, eve] = await Promise.all([
    k.person('Alice'),
    k.person('Bob'),
    k.person('Olga'),
    k.person('Eve')
  ])
  const { pid } = await k.partnership(alice, [bob], [olga])
  const aid = await k.activeAgreement(alice, [bob], pid, incidentTerms())
  const proposed: string = (await k.create(alice, pid, { content: incidentTerms({ title: 'Proposed' }) })).id
  ctx.clock.advance(1000)
  return { pid, aid, proposed, alice, bob, olga, eve }
}

t.test('no free text of an incident or appreciation is logged, whether the request succeeds or fails', async (t) => {
  const { pid, aid, proposed, alice, bob, olga, eve } = await arrange()
  const start = ctx.logs.length

  // Every free-text field, written successfully.
  const acked = await i.reported(alice, pid, aid, i.reportBody(bob, { description: text('Description') }))
  const disputed = await i.reported(bob, pid, aid, i.reportBody(alice, { description: text('Description') }))
  const succeeded: Record<string, LightMyRequestResponse> = {
    'acknowledge note': await i.acknowledge(bob, pid, aid, acked.id, { note: text('Apology') }),
    'dispute note': await i.dispute(alice, pid, aid, disputed.id, { note: text('Dispute') }),
    'resolution note': await i.resolve(alice, pid, aid, acked.id, { consequenceIndex: 0, note: text('Resolution') }),
    'appreciation text': await i.appreciate(bob, pid, aid, { text: text('Thanks'), clauseKey: 'no-hidden-chats' })
  }
  for (const [what, res] of Object.entries(succeeded))
    t.ok(res.statusCode < 300 && res.body.includes(SENTINEL), `${what}: written (${res.statusCode}) and answered`)
  const reads = [
    await ctx.request({ method: 'GET', url: i.incidentUrl(pid, aid, acked.id), token: olga.token }),
    await ctx.request({ method: 'GET', url: i.incidentsUrl(pid, aid), token: bob.token }),
    await ctx.request({ method: 'GET', url: i.appreciationsUrl(pid, aid), token: alice.token })
  ]
  t.ok(
    reads.every((r) => r.statusCode === 200 && r.body.includes(SENTINEL)),
    'and read back'
  )

  // Every kind of refusal, the sentinel in what was sent.
  const pending = await i.reported(alice, pid, aid, i.reportBody(bob))
  const refused: Array<[string, number, LightMyRequestResponse]> = [
    [
      'report: unknown clause',
      400,
      await i.report(alice, pid, aid, i.reportBody(bob, { clauseKey: 'no-such-clause', description: text('D') }))
    ],
    [
      'report: the sentinel as the clause key',
      400,
      await i.report(alice, pid, aid, i.reportBody(bob, { clauseKey: SENTINEL.toLowerCase(), description: text('D') }))
    ],
    [
      'report: description too long',
      400,
      await i.report(alice, pid, aid, i.reportBody(bob, { description: text('D').repeat(200) }))
    ],
    [
      'report: the sentinel as a field name',
      400,
      await i.report(alice, pid, aid, { ...i.reportBody(bob), [SENTINEL]: text('D') })
    ],
    [
      'report: occurredAt in the future',
      400,
      await i.report(
        alice,
        pid,
        aid,
        i.reportBody(bob, { occurredAt: new Date(Date.now() + 86_400_000 * 400).toISOString(), description: text('D') })
      )
    ],
    [
      'report: the sentinel as occurredAt',
      400,
      await i.report(alice, pid, aid, i.reportBody(bob, { occurredAt: text('When') }))
    ],
    [
      'report: not JSON',
      400,
      await ctx.request({
        method: 'POST',
        url: i.incidentsUrl(pid, aid),
        token: alice.token,
        headers: { 'content-type': 'application/json' },
        body: `{"description": "${text('D')}", `
      })
    ],
    ['report: not active', 409, await i.report(alice, pid, proposed, i.reportBody(bob, { description: text('D') }))],
    ['report: observer', 403, await i.report(olga, pid, aid, i.reportBody(bob, { description: text('D') }))],
    ['report: stranger', 404, await i.report(eve, pid, aid, i.reportBody(bob, { description: text('D') }))],
    [
      'report: no token',
      401,
      await ctx.request({
        method: 'POST',
        url: i.incidentsUrl(pid, aid),
        body: i.reportBody(bob, { description: text('D') })
      })
    ],
    [
      'report: wrong scope',
      403,
      await i.report(
        alice,
        pid,
        aid,
        i.reportBody(bob, { description: text('D') }),
        await k.scoped(alice, 'agreements:read')
      )
    ],
    ['acknowledge: twice', 409, await i.acknowledge(bob, pid, aid, acked.id, { note: text('Apology') })],
    ['acknowledge: not the subject', 403, await i.acknowledge(alice, pid, aid, pending.id, { note: text('Apology') })],
    [
      'acknowledge: note too long',
      400,
      await i.acknowledge(bob, pid, aid, pending.id, { note: text('A').repeat(100) })
    ],
    ['dispute: resolved', 409, await i.dispute(bob, pid, aid, acked.id, { note: text('Dispute') })],
    ['dispute: not the subject', 403, await i.dispute(olga, pid, aid, pending.id, { note: text('Dispute') })],
    [
      'resolve: still reported',
      409,
      await i.resolve(alice, pid, aid, pending.id, { consequenceIndex: 0, note: text('Resolution') })
    ],
    [
      'resolve: index out of range',
      400,
      await i.resolve(alice, pid, aid, disputed.id, { consequenceIndex: 7, note: text('Resolution') })
    ],
    [
      'resolve: index of the wrong type',
      400,
      await i.resolve(alice, pid, aid, disputed.id, { consequenceIndex: text('I'), note: text('Resolution') })
    ],
    ['appreciation: unknown clause', 400, await i.appreciate(bob, pid, aid, { text: text('T'), clauseKey: 'nope' })],
    ['appreciation: too long', 400, await i.appreciate(bob, pid, aid, { text: text('T').repeat(100) })],
    ['appreciation: not active', 409, await i.appreciate(bob, pid, proposed, { text: text('T') })],
    ['appreciation: observer', 403, await i.appreciate(olga, pid, aid, { text: text('T') })],
    ['appreciation: stranger', 404, await i.appreciate(eve, pid, aid, { text: text('T') })],
    [
      'list: the sentinel in the query',
      400,
      await ctx.request({
        method: 'GET',
        url: `${i.incidentsUrl(pid, aid)}?status=${encodeURIComponent(text('S'))}&clauseKey=${SENTINEL.toLowerCase()}`,
        token: alice.token
      })
    ]
  ]
  for (const [what, status, res] of refused) t.equal(res.statusCode, status, `${what}: ${status}`)
  t.equal((await i.getIncident(alice, pid, aid, pending.id)).status, 'reported', 'the refusals changed nothing')

  const lines = ctx.logs.slice(start)
  t.ok(lines.length > refused.length, `the requests were logged (${lines.length} lines)`)
  t.ok(
    lines.some((l) => l.includes('/incidents')),
    'the incident routes appear in the logs (by path)'
  )
  t.same(found(lines), [], 'no log line holds any of the text')
})

t.test('database failures on incident and appreciation writes are logged without their text', async (t) => {
  const { pid, aid, alice, bob } = await arrange()
  const toAcknowledge = await i.reported(alice, pid, aid, i.reportBody(bob))
  const toDispute = await i.reported(alice, pid, aid, i.reportBody(bob))
  const toResolve = await i.reported(alice, pid, aid, i.reportBody(bob))
  t.equal((await i.acknowledge(bob, pid, aid, toResolve.id, {})).statusCode, 200)
  const before = await i.state(alice, pid, aid)
  const start = ctx.logs.length

  const tables = ['incidents', 'appreciations']
  await ctx.database.rows(
    sql.raw(`create function accord_test_refuse() returns trigger language plpgsql as $$
    begin raise exception using message = 'refused by the logging test', errcode = 'P0001', table = tg_table_name; end $$`)
  )
  for (const table of tables)
    await ctx.database.rows(
      sql.raw(
        `create trigger accord_test_refuse before insert or update on ${table} for each row execute function accord_test_refuse()`
      )
    )
  t.teardown(async () => {
    for (const table of tables)
      await ctx.database.rows(sql.raw(`drop trigger if exists accord_test_refuse on ${table}`))
  })

  const attempts = {
    report: await i.report(alice, pid, aid, i.reportBody(bob, { description: text('Description') })),
    acknowledge: await i.acknowledge(bob, pid, aid, toAcknowledge.id, { note: text('Apology') }),
    dispute: await i.dispute(bob, pid, aid, toDispute.id, { note: text('Dispute') }),
    resolve: await i.resolve(alice, pid, aid, toResolve.id, { consequenceIndex: 1, note: text('Resolution') }),
    appreciate: await i.appreciate(alice, pid, aid, { text: text('Thanks') })
  }
  for (const [what, res] of Object.entries(attempts)) {
    isProblem(t, res, 500, 'internal', `${what}: the refused write`)
    t.notMatch(res.body, SENTINEL, `${what}: the answer does not echo it`)
  }
  for (const table of tables) await ctx.database.rows(sql.raw(`drop trigger accord_test_refuse on ${table}`))
  t.same(await i.state(alice, pid, aid), before, 'the failed writes changed nothing (log head included)')

  const lines = ctx.logs.slice(start)
  const failures = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request failed')
  t.equal(failures.length, Object.keys(attempts).length, 'every failure was logged once')
  for (const f of failures) {
    t.equal(f.err.sqlstate, 'P0001', 'logged by SQLSTATE')
    t.ok(tables.includes(f.err.table), `logged with its table (${f.err.table})`)
    t.notOk('message' in f.err, 'no message')
  }
  t.same(found(lines), [], 'no log line holds any of the text')
  t.notOk(
    lines.some((l) => /failed query|params:/i.test(l)),
    'no query text or parameter list'
  )
})
