import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { incidentKit, incidentTerms } from '../helpers/incidents.ts'
import { isProblem } from '../helpers/problems.ts'

// Class: incident writes that race or are retried: one transition wins, the counts GET agreement shows stay
// exact, one event per change, and a retry with the same Idempotency-Key does not report twice.

// A pool large enough that the requests really overlap on PostgreSQL (PGlite runs them one after another).
const ctx = await buildTestApp(t, { env: { DATABASE_POOL_MAX: '20' } })
const k = agreementKit(ctx)
const i = incidentKit(ctx, k)

async function arrange() {
  const [alice, bob, carol] = await Promise.all([k.person('Alice'), k.person('Bob'), k.person('Carol')])
  const { pid } = await k.partnership(alice, [bob, carol])
  const aid = await k.activeAgreement(alice, [bob, carol], pid, incidentTerms())
  ctx.clock.advance(60_000)
  await k.refresh([alice, bob, carol])
  return { pid, aid, alice, bob, carol }
}

const statuses = (rs: LightMyRequestResponse[]): number[] => rs.map((r) => r.statusCode).sort()

t.test(
  'two partners resolving the same incident at once: one resolves it, the other is told it is resolved',
  async (t) => {
    const { pid, aid, alice, bob, carol } = await arrange()
    const incident = await i.reported(alice, pid, aid, i.reportBody(bob))
    t.equal((await i.acknowledge(bob, pid, aid, incident.id, {})).statusCode, 200)
    const before = await k.headSeq(alice, pid)
    const results = await Promise.all([
      i.resolve(alice, pid, aid, incident.id, { consequenceIndex: 0, note: 'Alice closes it.' }),
      i.resolve(carol, pid, aid, incident.id, { consequenceIndex: 1, note: 'Carol closes it.' })
    ])
    t.same(statuses(results), [200, 409])
    const winner = results.find((r) => r.statusCode === 200)!
    const loser = results.find((r) => r.statusCode === 409)!
    isProblem(t, loser, 409, 'incident-status', 'the second resolution')
    t.equal(loser.json().incidentStatus, 'resolved')
    t.same(await i.getIncident(bob, pid, aid, incident.id), winner.json(), 'the incident is as the winner left it')
    t.same(
      (await k.eventsAfter(alice, pid, before)).map((e) => e.type),
      ['incident.resolved'],
      'one event'
    )
    t.equal((await k.agreement(alice, pid, aid)).body.openIncidents, 0, 'counted down once')
  }
)

t.test('the subject acknowledging and disputing at once: one answer wins', async (t) => {
  const { pid, aid, alice, bob } = await arrange()
  const incident = await i.reported(alice, pid, aid, i.reportBody(bob))
  const before = await k.headSeq(alice, pid)
  const [acked, disputed] = await Promise.all([
    i.acknowledge(bob, pid, aid, incident.id, { note: 'Sorry.' }),
    i.dispute(bob, pid, aid, incident.id, { note: 'Not so.' })
  ])
  t.same(statuses([acked, disputed]), [200, 409])
  const won = acked.statusCode === 200 ? 'acknowledged' : 'disputed'
  const lost = acked.statusCode === 200 ? disputed : acked
  t.equal(lost.json().incidentStatus, won, 'the loser is told what the winner made of it')
  t.match(await i.getIncident(alice, pid, aid, incident.id), { status: won, answer: { kind: won } })
  t.same(
    (await k.eventsAfter(alice, pid, before)).map((e) => e.type),
    [`incident.${won}`]
  )
})

t.test('many reports at once: every one counted, the latest occurrence kept, one event each', async (t) => {
  const { pid, aid, alice, bob, carol } = await arrange()
  const now = ctx.clock.now().getTime()
  const people = [alice, bob, carol]
  const before = await k.headSeq(alice, pid)
  const results = await Promise.all(
    Array.from({ length: 12 }, (_, n) =>
      i.report(
        people[n % 3]!,
        pid,
        aid,
        i.reportBody(people[(n + 1) % 3]!, { occurredAt: new Date(now - (n + 1) * 1000).toISOString() })
      )
    )
  )
  t.same(
    results.filter((r) => r.statusCode !== 201).map((r) => r.body),
    [],
    'every report accepted'
  )
  const a = (await k.agreement(alice, pid, aid)).body
  t.equal(a.openIncidents, 12, 'all twelve open')
  t.equal(a.lastIncidentAt, new Date(now - 1000).toISOString(), 'the latest occurrence, whatever the commit order')
  t.equal((await i.allIncidents(alice, pid, aid)).length, 12)
  const events = await k.eventsAfter(alice, pid, before)
  t.equal(events.filter((e) => e.type === 'incident.reported').length, 12, 'one event each')
  t.ok((await k.verify(alice, pid)).valid, 'the chain verifies')
})

t.test('a report retried with the same Idempotency-Key is reported once', async (t) => {
  const { pid, aid, alice, bob } = await arrange()
  const body = i.reportBody(bob, { description: 'Retried.' })
  const send = (b: unknown, key: string) =>
    ctx.request({
      method: 'POST',
      url: i.incidentsUrl(pid, aid),
      token: alice.token,
      headers: { 'idempotency-key': key },
      body: b
    })
  const before = await k.headSeq(alice, pid)
  const first = await send(body, 'report-once-1')
  t.equal(first.statusCode, 201, first.body)
  const again = await send(body, 'report-once-1')
  t.equal(again.statusCode, 201)
  t.same(again.json(), first.json(), 'the first answer again')
  t.equal(again.headers.location, first.headers.location)
  isProblem(
    t,
    await send({ ...body, description: 'Another.' }, 'report-once-1'),
    422,
    'idempotency-key-reused',
    'the same key, another body'
  )
  t.equal((await i.allIncidents(alice, pid, aid)).length, 1, 'one incident')
  t.equal((await k.agreement(alice, pid, aid)).body.openIncidents, 1, 'counted once')
  t.same(
    (await k.eventsAfter(alice, pid, before)).map((e) => e.type),
    ['incident.reported']
  )

  const resolveBody = { consequenceIndex: null, note: 'Once.' }
  t.equal((await i.acknowledge(bob, pid, aid, first.json().id, {})).statusCode, 200)
  const resolve = () =>
    ctx.request({
      method: 'POST',
      url: `${i.incidentUrl(pid, aid, first.json().id)}/resolve`,
      token: alice.token,
      headers: { 'idempotency-key': 'resolve-once-1' },
      body: resolveBody
    })
  const resolved = await resolve()
  t.equal(resolved.statusCode, 200, resolved.body)
  const retried = await resolve()
  t.equal(retried.statusCode, 200, 'a retried resolution answers as the first did, not 409')
  t.same(retried.json(), resolved.json())
  t.equal((await k.agreement(alice, pid, aid)).body.openIncidents, 0, 'counted down once')
})
