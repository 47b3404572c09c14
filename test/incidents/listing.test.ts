import t from 'tap'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { incidentKit, incidentTerms } from '../helpers/incidents.ts'
import { isInvalid, isProblem } from '../helpers/problems.ts'

// Class: what reads show of incidents: GET agreement's openIncidents and lastIncidentAt (and its ETag moving with
// them), the list's filters and its cursor pagination.

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const i = incidentKit(ctx, k)
const MINUTE = 60_000

async function arrange() {
  const [alice, bob, carol, olga] = await Promise.all([
    k.person('Alice'),
    k.person('Bob'),
    k.person('Carol'),
    k.person('Olga')
  ])
  const { pid } = await k.partnership(alice, [bob, carol], [olga])
  const aid = await k.activeAgreement(alice, [bob, carol], pid, incidentTerms())
  ctx.clock.advance(60 * MINUTE)
  await k.refresh([alice, bob, carol, olga])
  return { pid, aid, alice, bob, carol, olga }
}

t.test('GET agreement counts unresolved incidents, dates the latest one, and its ETag moves with them', async (t) => {
  const { pid, aid, alice, bob, carol, olga } = await arrange()
  const now = ctx.clock.now().getTime()
  const at = (minutesAgo: number): string => new Date(now - minutesAgo * MINUTE).toISOString()
  const seen = async () => {
    const a = await k.agreement(olga, pid, aid)
    const listed = (await ctx.request({ method: 'GET', url: `${k.agreementsUrl(pid)}?limit=100`, token: olga.token }))
      .json()
      .items.find((x: any) => x.id === aid)
    t.same(
      { openIncidents: listed.openIncidents, lastIncidentAt: listed.lastIncidentAt },
      { openIncidents: a.body.openIncidents, lastIncidentAt: a.body.lastIncidentAt },
      'the agreement list says the same'
    )
    return a
  }
  const etags = new Set<string>()
  const start = await seen()
  t.match(start.body, { openIncidents: 0, lastIncidentAt: null })
  etags.add(start.etag)

  const first = await i.reported(alice, pid, aid, i.reportBody(bob, { occurredAt: at(30) }))
  const afterFirst = await seen()
  t.match(afterFirst.body, { openIncidents: 1, lastIncidentAt: at(30) }, 'one open, occurred 30 minutes ago')
  t.notOk(etags.has(afterFirst.etag), 'the ETag moved')
  etags.add(afterFirst.etag)

  // The stale ETag no longer matches: a proposal made with it is refused.
  const stale = await ctx.request({
    method: 'POST',
    url: `${k.agreementUrl(pid, aid)}/versions`,
    token: alice.token,
    headers: { 'if-match': start.etag },
    body: { basedOn: 1, content: incidentTerms({ title: 'Stale' }) }
  })
  isProblem(t, stale, 412, 'precondition-failed', 'If-Match with the ETag from before the incident')

  const earlier = await i.reported(carol, pid, aid, i.reportBody(carol, { occurredAt: at(50) }))
  const afterEarlier = await seen()
  t.match(
    afterEarlier.body,
    { openIncidents: 2, lastIncidentAt: at(30) },
    'an incident that occurred earlier counts, but lastIncidentAt stays on the latest occurrence'
  )
  t.notOk(etags.has(afterEarlier.etag), 'the ETag moved')
  etags.add(afterEarlier.etag)

  t.equal((await i.acknowledge(bob, pid, aid, first.id, {})).statusCode, 200)
  t.equal((await i.dispute(carol, pid, aid, earlier.id, { note: 'No.' })).statusCode, 200)
  const afterAnswers = await seen()
  t.same(afterAnswers, afterEarlier, 'answered incidents are still open: body and ETag unchanged')

  t.equal((await i.resolve(carol, pid, aid, first.id, { consequenceIndex: 0, note: 'Done.' })).statusCode, 200)
  const afterResolve = await seen()
  t.match(afterResolve.body, { openIncidents: 1, lastIncidentAt: at(30) }, 'resolving lowers the count only')
  t.notOk(etags.has(afterResolve.etag), 'the ETag moved')
  etags.add(afterResolve.etag)

  const latest = await i.reported(bob, pid, aid, i.reportBody(carol, { occurredAt: at(1) }))
  const afterLatest = await seen()
  t.match(afterLatest.body, { openIncidents: 2, lastIncidentAt: at(1) }, 'a later occurrence moves lastIncidentAt')
  t.notOk(etags.has(afterLatest.etag), 'the ETag moved')
  etags.add(afterLatest.etag)

  // The subject of `latest` leaves; it is resolved as it is, and the count falls.
  await k.leave(carol, pid)
  t.equal((await i.resolve(bob, pid, aid, latest.id, { consequenceIndex: null, note: 'Gone.' })).statusCode, 200)
  t.equal((await i.resolve(alice, pid, aid, earlier.id, { consequenceIndex: null, note: 'Gone.' })).statusCode, 200)
  const end = await seen()
  t.match(end.body, { openIncidents: 0, lastIncidentAt: at(1) }, 'all resolved: none open, the last date stays')
  t.notOk(etags.has(end.etag), 'the ETag moved')

  const refused = await i.report(alice, pid, aid, i.reportBody(bob, { clauseKey: 'nope' }))
  isInvalid(t, refused, '/clauseKey', 'a refused report')
  t.same(await seen(), end, 'a refused report moves neither the count nor the ETag')
})

t.test('the list filters by status and clause, oldest first', async (t) => {
  const { pid, aid, alice, bob, carol } = await arrange()
  const make = async (clauseKey: string, then: 'reported' | 'acknowledged' | 'disputed' | 'resolved') => {
    const x = await i.reported(alice, pid, aid, i.reportBody(bob, { clauseKey }))
    if (then === 'acknowledged' || then === 'resolved')
      t.equal((await i.acknowledge(bob, pid, aid, x.id, {})).statusCode, 200)
    if (then === 'disputed') t.equal((await i.dispute(bob, pid, aid, x.id, { note: 'No.' })).statusCode, 200)
    if (then === 'resolved')
      t.equal((await i.resolve(carol, pid, aid, x.id, { consequenceIndex: null, note: 'Ok.' })).statusCode, 200)
    return { id: x.id as string, clauseKey, status: then }
  }
  const made = [
    await make('no-hidden-chats', 'reported'),
    await make('home-by-midnight', 'acknowledged'),
    await make('no-hidden-chats', 'disputed'),
    await make('home-by-midnight', 'resolved'),
    await make('no-hidden-chats', 'resolved'),
    await make('home-by-midnight', 'reported')
  ]
  const ids = (xs: Array<{ id: string }>) => xs.map((x) => x.id)
  const all = await i.allIncidents(carol, pid, aid)
  t.same(ids(all), ids(made), 'everything, in the order reported')
  t.same(
    all.map((x) => x.status),
    made.map((x) => x.status)
  )

  for (const status of ['reported', 'acknowledged', 'disputed', 'resolved']) {
    t.same(
      ids(await i.allIncidents(carol, pid, aid, `status=${status}`)),
      ids(made.filter((m) => m.status === status)),
      `status=${status}`
    )
  }
  for (const clauseKey of ['no-hidden-chats', 'home-by-midnight']) {
    t.same(
      ids(await i.allIncidents(carol, pid, aid, `clauseKey=${clauseKey}`)),
      ids(made.filter((m) => m.clauseKey === clauseKey)),
      `clauseKey=${clauseKey}`
    )
  }
  t.same(
    ids(await i.allIncidents(carol, pid, aid, 'status=resolved&clauseKey=home-by-midnight')),
    [made[3]!.id],
    'both filters together'
  )
  t.same(await i.allIncidents(carol, pid, aid, 'clauseKey=no-such-clause'), [], 'a clause without incidents: none')
  const url = i.incidentsUrl(pid, aid)
  for (const [query, path] of [
    ['status=open', '/status'],
    ['status=', '/status'],
    ['clauseKey=Not%20A%20Key', '/clauseKey'],
    ['limit=0', '/limit'],
    ['limit=101', '/limit'],
    ['limit=x', '/limit']
  ] as const)
    isInvalid(t, await ctx.request({ method: 'GET', url: `${url}?${query}`, token: alice.token }), path, query)
  isProblem(
    t,
    await ctx.request({ method: 'GET', url: `${url}?cursor=not-a-cursor`, token: alice.token }),
    400,
    'invalid-cursor',
    'a cursor that is not one'
  )

  const other = await k.activeAgreement(alice, [bob, carol], pid, incidentTerms({ title: 'Other' }))
  t.same(await i.allIncidents(alice, pid, other), [], "another agreement's list holds none of them")
})

t.test('the list pages with limit and an opaque cursor, filters kept across pages', async (t) => {
  const { pid, aid, alice, bob } = await arrange()
  const made: string[] = []
  for (let n = 0; n < 7; n++) {
    const clauseKey = n % 2 === 0 ? 'no-hidden-chats' : 'home-by-midnight'
    made.push((await i.reported(alice, pid, aid, i.reportBody(bob, { clauseKey, description: `Incident ${n}` }))).id)
  }
  const url = i.incidentsUrl(pid, aid)
  const pages: string[][] = []
  let next = `${url}?limit=3`
  for (;;) {
    const page = (await ctx.request({ method: 'GET', url: next, token: bob.token })).json()
    pages.push(page.items.map((x: any) => x.id))
    if (page.nextCursor === null) break
    t.type(page.nextCursor, 'string')
    next = `${url}?limit=3&cursor=${encodeURIComponent(page.nextCursor)}`
  }
  t.same(
    pages.map((p) => p.length),
    [3, 3, 1],
    'pages of 3, 3 and 1'
  )
  t.same(pages.flat(), made, 'every incident once, in order')

  const exact = (await ctx.request({ method: 'GET', url: `${url}?limit=7`, token: bob.token })).json()
  t.equal(exact.items.length, 7)
  t.equal(exact.nextCursor, null, 'a page that holds the rest has no next cursor')
  const first = (await ctx.request({ method: 'GET', url, token: bob.token })).json()
  t.equal(first.items.length, 7, 'the default limit (20) holds them all')

  const filtered: string[] = []
  next = `${url}?limit=2&clauseKey=no-hidden-chats`
  for (;;) {
    const page = (await ctx.request({ method: 'GET', url: next, token: bob.token })).json()
    filtered.push(...page.items.map((x: any) => x.id))
    if (page.nextCursor === null) break
    next = `${url}?limit=2&clauseKey=no-hidden-chats&cursor=${encodeURIComponent(page.nextCursor)}`
  }
  t.same(filtered, [made[0], made[2], made[4], made[6]], 'a filtered list pages through the matches only')
})
