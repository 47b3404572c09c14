// First: the process runs in Pacific/Auckland, so nothing below can pass by leaning on a UTC (or the process's) zone.
import '../helpers/tz-auckland.ts'
import t from 'tap'
import { agreementKit, type Person } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem, problemShape } from '../helpers/problems.ts'

// GET …/agreements/{aid}/insights: months and days are counted in the partnership's time zone, whatever the
// process's zone; the 12-month window; nothing counted by person; who may read it. Every expected value below
// is written out by hand (instants in UTC, with the local wall time they stand for beside them).

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const CLAUSE = 'no-hidden-chats'
const UNKNOWN = '0190f5f0-0000-7000-8000-000000000000'

/** Sets the clock to `iso` (an absolute instant) and re-mints the tokens of `people` on it. */
async function at(iso: string, people: Person[]): Promise<void> {
  ctx.clock.advance(Date.parse(iso) - ctx.clock.now().getTime())
  await k.refresh(people)
}

/** Twelve 'YYYY-MM' labels from `first` on, with the counts given by month (others zero). */
function months(
  first: string,
  counts: Record<string, { incidents?: number; appreciations?: number }> = {}
): Array<{ month: string; incidents: number; appreciations: number }> {
  let [y, m] = first.split('-').map(Number) as [number, number]
  const out = []
  for (let i = 0; i < 12; i++) {
    const month = `${y}-${String(m).padStart(2, '0')}`
    out.push({ month, incidents: counts[month]?.incidents ?? 0, appreciations: counts[month]?.appreciations ?? 0 })
    if (++m === 13) [y, m] = [y + 1, 1]
  }
  return out
}

async function report(by: Person, pid: string, aid: string, subject: Person, occurredAt: string): Promise<string> {
  const res = await ctx.request({
    method: 'POST',
    url: `${k.agreementUrl(pid, aid)}/incidents`,
    token: by.token,
    body: { clauseKey: CLAUSE, subjectId: subject.id, occurredAt, description: 'A chat was deleted.' }
  })
  k.expectStatus(res, 201, `report an incident that occurred at ${occurredAt}`)
  return res.json().id
}

async function appreciate(by: Person, pid: string, aid: string): Promise<string> {
  const res = await ctx.request({
    method: 'POST',
    url: `${k.agreementUrl(pid, aid)}/appreciations`,
    token: by.token,
    body: { text: 'Thank you for showing me.', clauseKey: CLAUSE }
  })
  return k.expectStatus(res, 201, 'add an appreciation').json().id
}

async function insights(by: Person, pid: string, aid: string): Promise<any> {
  const res = await ctx.request({ method: 'GET', url: `${k.agreementUrl(pid, aid)}/insights`, token: by.token })
  return k.expectStatus(res, 200, 'GET insights').json()
}

t.test('the process really runs in Pacific/Auckland', async (t) => {
  // 2027-01-31T22:30Z is 2027-02-01 11:30 in Auckland (NZDT, UTC+13).
  t.equal(new Date('2027-01-31T22:30:00Z').getDate(), 1, 'the process sees 1 February')
  t.equal(new Date('2027-01-31T22:30:00Z').getTimezoneOffset(), -780)
})

t.test('a month boundary: each incident and appreciation lands in its local month, not in UTC’s', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const people = [alice, bob]
  await at('2027-01-20T17:00:00Z', people)
  const ny = (await k.partnership(alice, [bob], [], { timezone: 'America/New_York' })).pid
  const paris = (await k.partnership(alice, [bob], [], { timezone: 'Europe/Paris' })).pid
  const nyAid = await k.activeAgreement(alice, [bob], ny)
  const parisAid = await k.activeAgreement(alice, [bob], paris)

  // Paris (CET, UTC+1). 22:30Z is 23:30 on 31 January in Paris (and already 1 February in Auckland).
  await at('2027-01-31T22:30:00Z', people)
  await appreciate(bob, paris, parisAid)
  await report(alice, paris, parisAid, bob, '2027-01-31T22:20:00Z') // 23:20 on 31 January in Paris
  // 23:30Z is 00:30 on 1 February in Paris (still 31 January in UTC).
  await at('2027-01-31T23:30:00Z', people)
  await appreciate(alice, paris, parisAid)
  await report(bob, paris, parisAid, alice, '2027-01-31T23:10:00Z') // 00:10 on 1 February in Paris

  // New York (EST, UTC−5). 04:30Z on 1 February is 23:30 on 31 January in New York.
  await at('2027-02-01T04:30:00Z', people)
  await appreciate(bob, ny, nyAid)
  await report(alice, ny, nyAid, bob, '2027-02-01T04:29:00Z') // 23:29 on 31 January in New York
  // 05:30Z is 00:30 on 1 February in New York.
  await at('2027-02-01T05:30:00Z', people)
  await appreciate(alice, ny, nyAid)
  await report(bob, ny, nyAid, alice, '2027-02-01T05:05:00Z') // 00:05 on 1 February in New York

  // Mid-month: the window ends at February in both zones.
  await at('2027-02-10T15:00:00Z', people)
  const both = { '2027-01': { incidents: 1, appreciations: 1 }, '2027-02': { incidents: 1, appreciations: 1 } }
  const p = await insights(alice, paris, parisAid)
  t.equal(p.timezone, 'Europe/Paris')
  t.same(p.months, months('2026-03', both), 'Paris: one of each in January, one of each in February')
  t.match(p, { incidents: { total: 2, open: 2 }, appreciations: { total: 2 } })
  t.equal(p.incidents.lastOccurredAt, '2027-01-31T23:10:00.000Z')
  const n = await insights(bob, ny, nyAid)
  t.equal(n.timezone, 'America/New_York')
  t.same(n.months, months('2026-03', both), 'New York: one of each in January, one of each in February')
  t.equal(n.incidents.lastOccurredAt, '2027-02-01T05:05:00.000Z')

  // 03:00Z on 1 March: 22:00 on 28 February in New York, 04:00 on 1 March in Paris (and 16:00 in Auckland).
  await at('2027-03-01T03:00:00Z', people)
  const p2 = await insights(alice, paris, parisAid)
  t.same(p2.months, months('2026-04', both), 'Paris is in March: its 12 months run April 2026 to March 2027')
  t.equal(p2.asOf.slice(0, 16), '2027-03-01T03:00')
  const n2 = await insights(alice, ny, nyAid)
  t.same(n2.months, months('2026-03', both), 'New York is still in February: March 2026 to February 2027')
  // New York: from 00:05 on 1 February to 22:00 on 28 February is 27 local days.
  t.equal(n2.incidents.daysSinceLast, 27)
  // Paris: from 00:10 on 1 February to 04:00 on 1 March is 28 local days.
  t.equal(p2.incidents.daysSinceLast, 28)
})

t.test('days since the last incident are whole local calendar days across DST changes', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const people = [alice, bob]
  await at('2027-03-05T12:00:00Z', people)
  const ny = (await k.partnership(alice, [bob], [], { timezone: 'America/New_York' })).pid
  const paris = (await k.partnership(alice, [bob], [], { timezone: 'Europe/Paris' })).pid
  const nySpring = await k.activeAgreement(alice, [bob], ny)
  const parisSpring = await k.activeAgreement(alice, [bob], paris)
  const parisAutumn = await k.activeAgreement(alice, [bob], paris)

  t.match(
    await insights(alice, paris, parisSpring),
    { incidents: { total: 0, open: 0, lastOccurredAt: null, daysSinceLast: null } },
    'no incident yet: no count of days'
  )

  // New York springs forward on Sunday 14 March 2027 (02:00 EST → 03:00 EDT, at 07:00Z).
  await at('2027-03-14T04:40:00Z', people) // 23:40 EST on Saturday 13 March
  await report(alice, ny, nySpring, bob, '2027-03-14T04:30:00Z') // 23:30 EST on Saturday 13 March
  t.equal((await insights(alice, ny, nySpring)).incidents.daysSinceLast, 0, 'the same evening: 0')
  await at('2027-03-15T03:50:00Z', people) // 23:50 EDT on Sunday 14 March: 23 h 20 min later
  t.equal((await insights(alice, ny, nySpring)).incidents.daysSinceLast, 1, 'Sunday (a 23-hour day): 1')
  await at('2027-03-15T04:30:00Z', people) // 00:30 EDT on Monday 15 March: exactly 24 hours later
  t.equal(
    (await insights(alice, ny, nySpring)).incidents.daysSinceLast,
    2,
    'Monday just after midnight: 2 local days (only 24 hours, and 1 day in UTC or in Auckland)'
  )

  // Paris springs forward on Sunday 28 March 2027 (02:00 CET → 03:00 CEST, at 01:00Z).
  await at('2027-03-27T22:40:00Z', people) // 23:40 CET on Saturday 27 March
  await report(bob, paris, parisSpring, alice, '2027-03-27T22:30:00Z') // 23:30 CET on Saturday 27 March
  t.equal((await insights(alice, paris, parisSpring)).incidents.daysSinceLast, 0)
  await at('2027-03-28T21:50:00Z', people) // 23:50 CEST on Sunday 28 March
  t.equal((await insights(alice, paris, parisSpring)).incidents.daysSinceLast, 1)
  await at('2027-03-28T22:30:00Z', people) // 00:30 CEST on Monday 29 March, 24 hours after
  t.equal(
    (await insights(bob, paris, parisSpring)).incidents.daysSinceLast,
    2,
    'Monday just after midnight: 2 local days'
  )
  await at('2027-04-05T10:00:00Z', people) // 12:00 CEST on Monday 5 April
  t.equal((await insights(bob, paris, parisSpring)).incidents.daysSinceLast, 9, '27 March to 5 April')

  // Paris falls back on Sunday 31 October 2027 (03:00 CEST → 02:00 CET, at 01:00Z): a 25-hour day.
  await at('2027-10-30T22:10:00Z', people) // 00:10 CEST on Sunday 31 October
  await report(alice, paris, parisAutumn, alice, '2027-10-30T22:05:00Z') // 00:05 CEST on Sunday 31 October
  await at('2027-10-31T22:55:00Z', people) // 23:55 CET on Sunday 31 October: 24 h 50 min later
  const autumn = await insights(alice, paris, parisAutumn)
  t.equal(
    autumn.incidents.daysSinceLast,
    0,
    'still Sunday in Paris after 24 h 50 min: 0 (1 in UTC, in Auckland, or counting 24-hour periods)'
  )
  t.equal(autumn.incidents.lastOccurredAt, '2027-10-30T22:05:00.000Z')
  await at('2027-10-31T23:05:00Z', people) // 00:05 CET on Monday 1 November
  t.equal((await insights(alice, paris, parisAutumn)).incidents.daysSinceLast, 1, 'Monday: 1')

  // The months of the spring incidents are those of their local dates.
  t.same(
    (await insights(alice, ny, nySpring)).months,
    months('2026-11', { '2027-03': { incidents: 1 } }),
    'November 2026 to October 2027 (New York is at 19:05 on 31 October)'
  )
  t.same(
    (await insights(alice, paris, parisAutumn)).months,
    months('2026-12', { '2027-10': { incidents: 1 } }),
    'December 2026 to November 2027 (Paris is at 00:05 on 1 November)'
  )
})

t.test('the window holds the 12 local months up to this one, oldest first; the totals hold everything', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const olga = await k.person('Olga')
  const people = [alice, bob, olga]
  await at('2028-01-10T15:00:00Z', people)
  const pid = (await k.partnership(alice, [bob], [olga], { timezone: 'America/New_York' })).pid
  const aid = await k.activeAgreement(alice, [bob], pid)

  const fresh = await insights(olga, pid, aid)
  t.same(fresh.months, months('2027-02'), 'nothing yet: twelve zero months, February 2027 to January 2028')
  t.match(fresh, { incidents: { total: 0, open: 0 }, appreciations: { total: 0 } })

  await at('2028-01-20T15:00:00Z', people)
  await appreciate(alice, pid, aid) // January 2028: out of the final window
  await at('2029-01-01T04:30:00Z', people) // 23:30 EST on 31 December 2028
  await appreciate(bob, pid, aid)
  await at('2029-01-03T12:00:00Z', people) // 07:00 EST on 3 January 2029
  await appreciate(alice, pid, aid)
  // The window starts at 00:00 EST on 1 February 2028, 05:00Z.
  await report(alice, pid, aid, bob, '2028-01-15T12:00:00Z') // a year ago: out
  await report(alice, pid, aid, bob, '2028-02-01T04:59:00Z') // 23:59 EST on 31 January: out (February in UTC)
  const first = await report(bob, pid, aid, bob, '2028-02-01T05:00:00Z') // 00:00 EST on 1 February: in
  await report(bob, pid, aid, alice, '2029-01-03T11:00:00Z') // 06:00 EST on 3 January 2029: this month
  // One of them is answered and resolved: it still counts, but is no longer open.
  const inc = `${k.agreementUrl(pid, aid)}/incidents/${first}`
  k.expectStatus(
    await ctx.request({ method: 'POST', url: `${inc}/acknowledge`, token: bob.token, body: {} }),
    200,
    'ack'
  )
  const resolved = await ctx.request({
    method: 'POST',
    url: `${inc}/resolve`,
    token: alice.token,
    body: { consequenceIndex: 0, note: 'We talked it through.' }
  })
  k.expectStatus(resolved, 200, 'resolve')

  const body = await insights(olga, pid, aid)
  t.equal(body.months.length, 12)
  t.same(
    body.months,
    months('2028-02', {
      '2028-02': { incidents: 1 },
      '2028-12': { appreciations: 1 },
      '2029-01': { incidents: 1, appreciations: 1 }
    }),
    'February 2028 to January 2029, across the new year'
  )
  t.same(body.months.at(-1).month, '2029-01', 'ends at the current local month')
  t.match(body, {
    agreementId: aid,
    timezone: 'America/New_York',
    incidents: { total: 4, open: 3, lastOccurredAt: '2029-01-03T11:00:00.000Z', daysSinceLast: 0 },
    appreciations: { total: 3 }
  })
  const inWindow = body.months.reduce((s: number, m: { incidents: number }) => s + m.incidents, 0)
  t.equal(inWindow, 2, 'two incidents in the window, two older ones only in the total')
  t.same(
    body.reviews,
    {
      completed: 0,
      completedOnTime: 0,
      averageRating: null,
      trend: { recent: null, previous: null, direction: null },
      keepStreak: 0
    },
    'no review yet'
  )
})

t.test('nothing is counted by person: no partner or observer id anywhere in the answer', async (t) => {
  const [alice, bob, carol, olga] = [
    await k.person('Alice'),
    await k.person('Bob'),
    await k.person('Carol'),
    await k.person('Olga')
  ]
  const people = [alice, bob, carol, olga]
  await at('2029-02-01T12:00:00Z', people)
  const pid = (await k.partnership(alice, [bob, carol], [olga])).pid
  const aid = await k.activeAgreement(alice, [bob, carol], pid)
  // Incidents about each partner, by each other, appreciations by each, a review answered by all.
  await at('2029-02-02T12:00:00Z', people)
  await report(alice, pid, aid, bob, '2029-02-02T11:00:00Z')
  await report(bob, pid, aid, carol, '2029-02-02T11:10:00Z')
  await report(carol, pid, aid, carol, '2029-02-02T11:20:00Z')
  await report(carol, pid, aid, alice, '2029-02-02T11:30:00Z')
  for (const p of [alice, bob, carol]) await appreciate(p, pid, aid)
  const rid = k
    .expectStatus(
      await ctx.request({ method: 'POST', url: `${k.agreementUrl(pid, aid)}/reviews`, token: bob.token }),
      201,
      'open early'
    )
    .json().id
  for (const [p, rating] of [
    [alice, 5],
    [bob, 2],
    [carol, 3]
  ] as const)
    k.expectStatus(
      await ctx.request({
        method: 'PUT',
        url: `${k.agreementUrl(pid, aid)}/reviews/${rid}/responses/me`,
        token: p.token,
        body: { outcome: 'keep', rating }
      }),
      200,
      'answer'
    )

  for (const reader of people) {
    const res = await ctx.request({ method: 'GET', url: `${k.agreementUrl(pid, aid)}/insights`, token: reader.token })
    t.equal(res.statusCode, 200)
    for (const p of people) t.notOk(res.body.includes(p.id), `${reader.name}'s answer does not name ${p.name}`)
    t.notMatch(res.body, /subject|reporter|author|userId|signer|"by"|person|partner/i, 'no per-person key')
    t.match(res.json(), {
      incidents: { total: 4, open: 4 },
      appreciations: { total: 3 },
      reviews: { completed: 1, completedOnTime: 1, averageRating: 3.33, keepStreak: 1 }
    })
  }
  // The only ids in the answer are the agreement's.
  const ids = (await insights(alice, pid, aid)).agreementId
  t.equal(ids, aid)
  const body = JSON.stringify(await insights(alice, pid, aid))
  t.same(body.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g), [aid], 'one uuid: the agreement')
})

t.test('who may read insights: members (observers included); strangers and former members get 404', async (t) => {
  const [alice, bob, carol, olga, mallory] = [
    await k.person('Alice'),
    await k.person('Bob'),
    await k.person('Carol'),
    await k.person('Olga'),
    await k.person('Mallory')
  ]
  await at('2029-03-01T12:00:00Z', [alice, bob, carol, olga, mallory])
  const pid = (await k.partnership(alice, [bob, carol], [olga])).pid
  const aid = await k.activeAgreement(alice, [bob, carol], pid)
  const other = (await k.partnership(mallory, [bob])).pid
  const foreign = await k.activeAgreement(mallory, [bob], other)
  const url = `${k.agreementUrl(pid, aid)}/insights`

  for (const p of [alice, bob, carol, olga]) {
    const res = await ctx.request({ method: 'GET', url, token: p.token })
    t.equal(res.statusCode, 200, `${p.name}: 200`)
  }
  t.equal(
    (await ctx.request({ method: 'GET', url, token: await k.scoped(olga, 'agreements:read') })).statusCode,
    200,
    'agreements:read is enough'
  )
  isProblem(
    t,
    await ctx.request({ method: 'GET', url, token: await k.scoped(alice, 'partnerships:read') }),
    403,
    'insufficient-scope',
    'a token without agreements:read'
  )
  isProblem(t, await ctx.request({ method: 'GET', url }), 401, 'token-required', 'no token')
  const stranger = await ctx.request({ method: 'GET', url, token: mallory.token })
  isProblem(t, stranger, 404, 'not-found', 'a stranger')
  const strangerUnknown = await ctx.request({
    method: 'GET',
    url: `${k.agreementUrl(pid, UNKNOWN)}/insights`,
    token: mallory.token
  })
  t.same(problemShape(strangerUnknown), problemShape(stranger), 'a stranger cannot tell a real agreement from none')
  isProblem(
    t,
    await ctx.request({
      method: 'GET',
      url: `${k.agreementUrl(pid, UNKNOWN)}/insights`,
      token: alice.token
    }),
    404,
    'not-found',
    'an unknown agreement'
  )
  isProblem(
    t,
    await ctx.request({ method: 'GET', url: `${k.agreementUrl(pid, foreign)}/insights`, token: bob.token }),
    404,
    'not-found',
    "another partnership's agreement under this partnership, by a member of both"
  )

  await k.leave(carol, pid)
  await k.leave(olga, pid)
  isProblem(t, await ctx.request({ method: 'GET', url, token: carol.token }), 404, 'not-found', 'a partner who left')
  isProblem(t, await ctx.request({ method: 'GET', url, token: olga.token }), 404, 'not-found', 'an observer who left')
  t.equal((await ctx.request({ method: 'GET', url, token: alice.token })).statusCode, 200, 'the others still read')
})
