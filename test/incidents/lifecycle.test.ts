import { randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { incidentKit, incidentTerms } from '../helpers/incidents.ts'
import { isInvalid, isProblem, problemOf } from '../helpers/problems.ts'

// Class: the incident state machine (reported → acknowledged | disputed → resolved), who may move it, and every
// transition it forbids.

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const i = incidentKit(ctx, k)

/** Alice, Bob and Carol (partners) and Olga (an observer); an active agreement with the incident terms. */
async function arrange() {
  const [alice, bob, carol, olga] = await Promise.all([
    k.person('Alice'),
    k.person('Bob'),
    k.person('Carol'),
    k.person('Olga')
  ])
  const { pid } = await k.partnership(alice, [bob, carol], [olga])
  const aid = await k.activeAgreement(alice, [bob, carol], pid, incidentTerms())
  ctx.clock.advance(5_000) // so that "a second ago" is after the activation
  return { pid, aid, alice, bob, carol, olga }
}

/** A 409 `incident-status` naming the incident's current status; the RFC 9457 `status` stays the HTTP status. */
function isStatusConflict(t: Test, res: LightMyRequestResponse, current: string, what: string): void {
  isProblem(t, res, 409, 'incident-status', what)
  const problem = problemOf(res) as Record<string, unknown>
  t.equal(problem.status, 409, `${what}: the problem's status is the HTTP status (RFC 9457)`)
  t.equal(problem.incidentStatus, current, `${what}: the problem names the current status (${current})`)
}

t.test('reported → acknowledged → resolved: only the subject acknowledges, any partner resolves', async (t) => {
  const { pid, aid, alice, bob, carol, olga } = await arrange()
  const occurredAt = new Date(ctx.clock.now().getTime() - 1000).toISOString()
  const res = await i.report(alice, pid, aid, i.reportBody(bob, { occurredAt, description: 'Bob deleted a chat.' }))
  t.equal(res.statusCode, 201, res.body)
  const incident = res.json()
  t.equal(res.headers.location, i.incidentUrl(pid, aid, incident.id), 'Location names the new incident')
  t.match(incident, {
    partnershipId: pid,
    agreementId: aid,
    versionNumber: 1,
    clauseKey: 'no-hidden-chats',
    clause: {
      key: 'no-hidden-chats',
      text: "We don't delete or hide conversations with people we've dated.",
      consequences: ['We talk it through within 48 hours.', 'We see our counselor together.']
    },
    subjectId: bob.id,
    reporterId: alice.id,
    status: 'reported',
    occurredAt,
    description: 'Bob deleted a chat.',
    answer: null,
    resolution: null
  })
  t.same(await i.getIncident(carol, pid, aid, incident.id), incident, 'GET shows what POST answered')

  const before = await i.state(alice, pid, aid)
  isProblem(
    t,
    await i.acknowledge(alice, pid, aid, incident.id, {}),
    403,
    'not-the-subject',
    'the reporter acknowledges'
  )
  isProblem(t, await i.acknowledge(carol, pid, aid, incident.id, {}), 403, 'not-the-subject', 'another partner')
  isProblem(t, await i.acknowledge(olga, pid, aid, incident.id, {}), 403, 'observer-read-only', 'the observer')
  t.same(await i.state(alice, pid, aid), before, 'the refused acknowledgements changed nothing')

  const acked = await i.acknowledge(bob, pid, aid, incident.id, { note: 'I am sorry; it will not happen again.' })
  t.equal(acked.statusCode, 200, acked.body)
  t.match(acked.json(), {
    id: incident.id,
    status: 'acknowledged',
    answer: { kind: 'acknowledged', note: 'I am sorry; it will not happen again.' },
    resolution: null
  })
  t.ok(Date.parse(acked.json().answer.answeredAt) >= Date.parse(incident.reportedAt), 'answeredAt is set')

  isProblem(
    t,
    await i.resolve(olga, pid, aid, incident.id, { consequenceIndex: 0, note: 'Talked.' }),
    403,
    'observer-read-only',
    'the observer resolves'
  )
  const resolved = await i.resolve(carol, pid, aid, incident.id, { consequenceIndex: 0, note: 'We talked it through.' })
  t.equal(resolved.statusCode, 200, resolved.body)
  t.match(resolved.json(), {
    status: 'resolved',
    answer: { kind: 'acknowledged', note: 'I am sorry; it will not happen again.' },
    resolution: {
      consequenceIndex: 0,
      consequence: 'We talk it through within 48 hours.',
      note: 'We talked it through.',
      resolvedBy: carol.id
    }
  })
  t.same(await i.getIncident(olga, pid, aid, incident.id), resolved.json(), 'the observer reads it as resolved')
})

t.test('reported → disputed → resolved: the subject disputes with a note, and may resolve it too', async (t) => {
  const { pid, aid, alice, bob, carol, olga } = await arrange()
  const incident = await i.reported(alice, pid, aid, i.reportBody(bob))
  const before = await i.state(alice, pid, aid)
  for (const [who, person, code, status] of [
    ['the reporter', alice, 'not-the-subject', 403],
    ['another partner', carol, 'not-the-subject', 403],
    ['the observer', olga, 'observer-read-only', 403]
  ] as const)
    isProblem(t, await i.dispute(person, pid, aid, incident.id, { note: 'Not true.' }), status, code, who)
  isInvalid(t, await i.dispute(bob, pid, aid, incident.id, {}), '/note', 'a dispute without a note')
  isInvalid(t, await i.dispute(bob, pid, aid, incident.id, { note: '   ' }), '/note', 'a blank note')
  t.same(await i.state(alice, pid, aid), before, 'the refused disputes changed nothing')

  const disputed = await i.dispute(bob, pid, aid, incident.id, { note: 'I archived it, I did not delete it.' })
  t.equal(disputed.statusCode, 200, disputed.body)
  t.match(disputed.json(), {
    status: 'disputed',
    answer: { kind: 'disputed', note: 'I archived it, I did not delete it.' },
    resolution: null
  })

  const resolved = await i.resolve(bob, pid, aid, incident.id, { consequenceIndex: null, note: 'A misunderstanding.' })
  t.equal(resolved.statusCode, 200, resolved.body)
  t.match(resolved.json(), {
    status: 'resolved',
    answer: { kind: 'disputed' },
    resolution: { consequenceIndex: null, consequence: null, note: 'A misunderstanding.', resolvedBy: bob.id }
  })
})

t.test('acknowledging without a note keeps a null note', async (t) => {
  const { pid, aid, alice, bob } = await arrange()
  const incident = await i.reported(alice, pid, aid, i.reportBody(bob))
  const acked = await i.acknowledge(bob, pid, aid, incident.id, {})
  t.equal(acked.statusCode, 200, acked.body)
  t.match(acked.json(), { status: 'acknowledged', answer: { kind: 'acknowledged', note: null } })
})

t.test('a self-report flows through: the reporter is the subject, acknowledges it and resolves it', async (t) => {
  const { pid, aid, alice, bob } = await arrange()
  const incident = await i.reported(bob, pid, aid, i.reportBody(bob, { description: 'I was late and did not call.' }))
  t.match(incident, { reporterId: bob.id, subjectId: bob.id, status: 'reported' })
  isProblem(t, await i.acknowledge(alice, pid, aid, incident.id, {}), 403, 'not-the-subject', 'someone else')
  const acked = await i.acknowledge(bob, pid, aid, incident.id, { note: 'My bad.' })
  t.equal(acked.statusCode, 200, acked.body)
  t.equal(acked.json().status, 'acknowledged')
  const resolved = await i.resolve(bob, pid, aid, incident.id, { consequenceIndex: 1, note: 'Booked the counselor.' })
  t.equal(resolved.statusCode, 200, resolved.body)
  t.match(resolved.json(), {
    status: 'resolved',
    resolution: { consequenceIndex: 1, consequence: 'We see our counselor together.', resolvedBy: bob.id }
  })
})

t.test(
  'every forbidden transition answers 409 incident-status with the current status, and changes nothing',
  async (t) => {
    const { pid, aid, alice, bob, carol } = await arrange()
    const resolveBody = { consequenceIndex: 0, note: 'Again.' }

    const reported = await i.reported(alice, pid, aid, i.reportBody(bob))
    const acknowledged = await i.reported(alice, pid, aid, i.reportBody(bob))
    t.equal((await i.acknowledge(bob, pid, aid, acknowledged.id, {})).statusCode, 200)
    const disputed = await i.reported(alice, pid, aid, i.reportBody(bob))
    t.equal((await i.dispute(bob, pid, aid, disputed.id, { note: 'No.' })).statusCode, 200)
    const resolved = await i.reported(alice, pid, aid, i.reportBody(bob))
    t.equal((await i.dispute(bob, pid, aid, resolved.id, { note: 'No.' })).statusCode, 200)
    t.equal((await i.resolve(alice, pid, aid, resolved.id, { consequenceIndex: null, note: 'Done.' })).statusCode, 200)

    const before = await i.state(alice, pid, aid)
    const cases: Array<[string, () => Promise<LightMyRequestResponse>, string]> = [
      ['acknowledge twice', () => i.acknowledge(bob, pid, aid, acknowledged.id, {}), 'acknowledged'],
      ['dispute after acknowledging', () => i.dispute(bob, pid, aid, acknowledged.id, { note: 'No.' }), 'acknowledged'],
      ['acknowledge after disputing', () => i.acknowledge(bob, pid, aid, disputed.id, {}), 'disputed'],
      ['dispute twice', () => i.dispute(bob, pid, aid, disputed.id, { note: 'Still no.' }), 'disputed'],
      [
        'resolve a reported one (its subject still a partner)',
        () => i.resolve(alice, pid, aid, reported.id, resolveBody),
        'reported'
      ],
      ['the subject resolves a reported one', () => i.resolve(bob, pid, aid, reported.id, resolveBody), 'reported'],
      ['resolve twice', () => i.resolve(carol, pid, aid, resolved.id, resolveBody), 'resolved'],
      ['acknowledge a resolved one', () => i.acknowledge(bob, pid, aid, resolved.id, {}), 'resolved'],
      ['dispute a resolved one', () => i.dispute(bob, pid, aid, resolved.id, { note: 'Late.' }), 'resolved']
    ]
    for (const [what, call, current] of cases) isStatusConflict(t, await call(), current, what)
    t.same(await i.state(alice, pid, aid), before, 'no refused transition changed anything')
    t.equal((await i.getIncident(alice, pid, aid, reported.id)).status, 'reported')
    t.equal((await i.getIncident(alice, pid, aid, resolved.id)).resolution.note, 'Done.', 'the first resolution stays')
  }
)

t.test('a reported incident whose subject left the partnership may be resolved as it is', async (t) => {
  const { pid, aid, alice, bob, carol } = await arrange()
  const left = await i.reported(alice, pid, aid, i.reportBody(carol, { description: 'Carol hid a chat.' }))
  const answered = await i.reported(alice, pid, aid, i.reportBody(carol))
  t.equal((await i.acknowledge(carol, pid, aid, answered.id, {})).statusCode, 200)
  const reporterLeaves = await i.reported(carol, pid, aid, i.reportBody(bob))
  await k.leave(carol, pid)

  isProblem(t, await i.acknowledge(carol, pid, aid, left.id, {}), 404, 'not-found', 'the subject who left answers')
  const resolved = await i.resolve(bob, pid, aid, left.id, { consequenceIndex: 1, note: 'Carol is gone.' })
  t.equal(resolved.statusCode, 200, resolved.body)
  t.match(resolved.json(), {
    status: 'resolved',
    answer: null,
    resolution: { consequenceIndex: 1, consequence: 'We see our counselor together.', resolvedBy: bob.id }
  })
  const already = await i.resolve(alice, pid, aid, answered.id, { consequenceIndex: null, note: 'Closed.' })
  t.equal(already.statusCode, 200, 'an answered incident of a subject who left resolves as usual')
  isStatusConflict(
    t,
    await i.resolve(alice, pid, aid, left.id, { consequenceIndex: null, note: 'Again.' }),
    'resolved',
    'resolving it twice'
  )
  isStatusConflict(
    t,
    await i.resolve(alice, pid, aid, reporterLeaves.id, { consequenceIndex: null, note: 'Reporter is gone.' }),
    'reported',
    'a reported one whose reporter (not subject) left'
  )
  t.equal((await i.acknowledge(bob, pid, aid, reporterLeaves.id, {})).statusCode, 200, 'its subject still answers')
})

t.test('unknown incidents, and incidents of another agreement, are 404', async (t) => {
  const { pid, aid, alice, bob, carol } = await arrange()
  const other = await k.activeAgreement(alice, [bob, carol], pid, incidentTerms({ title: 'Another' }))
  const incident = await i.reported(alice, pid, other, i.reportBody(bob))
  const before = await i.state(alice, pid, aid)
  for (const iid of [randomUUID(), incident.id]) {
    const what = iid === incident.id ? 'an incident of another agreement' : 'an unknown incident'
    const got = await ctx.request({ method: 'GET', url: i.incidentUrl(pid, aid, iid), token: alice.token })
    isProblem(t, got, 404, 'not-found', `${what}: GET`)
    t.equal(problemOf(got).detail, 'no such incident')
    isProblem(t, await i.acknowledge(bob, pid, aid, iid, {}), 404, 'not-found', `${what}: acknowledge`)
    isProblem(t, await i.dispute(bob, pid, aid, iid, { note: 'x' }), 404, 'not-found', `${what}: dispute`)
    isProblem(
      t,
      await i.resolve(alice, pid, aid, iid, { consequenceIndex: null, note: 'x' }),
      404,
      'not-found',
      `${what}: resolve`
    )
  }
  isInvalid(
    t,
    await ctx.request({ method: 'GET', url: i.incidentUrl(pid, aid, 'not-a-uuid'), token: alice.token }),
    '/iid',
    'a malformed incident id'
  )
  t.same(await i.state(alice, pid, aid), before, 'nothing changed')
  t.equal((await i.getIncident(alice, pid, other, incident.id)).status, 'reported', 'the other one is untouched')
})
