import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { incidentKit, incidentTerms } from '../helpers/incidents.ts'

// Class: every incident and appreciation write appends exactly its event, in the same transaction, and no event
// carries the free text a person wrote (SPEC §3.6, §3.8): ids, statuses, the clause key and the consequence index only.

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const i = incidentKit(ctx, k)

async function arrange() {
  const [alice, bob, carol] = await Promise.all([k.person('Alice'), k.person('Bob'), k.person('Carol')])
  const { pid } = await k.partnership(alice, [bob, carol])
  const aid = await k.activeAgreement(alice, [bob, carol], pid, incidentTerms())
  ctx.clock.advance(5_000)
  return { pid, aid, alice, bob, carol }
}

/** Runs a write that must answer `status` and returns the events it appended. */
async function appendedBy(
  t: Test,
  by: Parameters<typeof k.headSeq>[0],
  pid: string,
  status: number,
  action: () => Promise<LightMyRequestResponse>
): Promise<{ res: LightMyRequestResponse; events: Awaited<ReturnType<typeof k.eventsAfter>> }> {
  const before = await k.headSeq(by, pid)
  const res = await action()
  t.equal(res.statusCode, status, res.body.slice(0, 300))
  return { res, events: await k.eventsAfter(by, pid, before) }
}

t.test('each action appends exactly its event, with ids and statuses in data and nothing else', async (t) => {
  const { pid, aid, alice, bob, carol } = await arrange()
  const texts = {
    description: 'Description-text-9f1 Bob deleted the chat with his ex.',
    ackNote: 'Ack-note-text-2c7 I am sorry.',
    disputeNote: 'Dispute-note-text-5d3 It was archived.',
    resolutionNote: 'Resolution-note-text-8a4 We talked.',
    appreciation: 'Appreciation-text-3e6 Thank you for showing me.'
  }

  const reported = await appendedBy(t, alice, pid, 201, () =>
    i.report(alice, pid, aid, i.reportBody(bob, { description: texts.description }))
  )
  const incident = reported.res.json()
  t.same(
    reported.events.map((e) => e.type),
    ['incident.reported'],
    'report: incident.reported'
  )
  t.match(reported.events[0], { actorId: alice.id, subject: { type: 'incident', id: incident.id } })
  t.same(reported.events[0]!.data, {
    agreementId: aid,
    versionNumber: 1,
    clauseKey: 'no-hidden-chats',
    subjectId: bob.id,
    status: 'reported'
  })

  const acked = await appendedBy(t, bob, pid, 200, () =>
    i.acknowledge(bob, pid, aid, incident.id, { note: texts.ackNote })
  )
  t.same(
    acked.events.map((e) => e.type),
    ['incident.acknowledged'],
    'acknowledge: incident.acknowledged'
  )
  t.match(acked.events[0], { actorId: bob.id, subject: { type: 'incident', id: incident.id } })
  t.same(acked.events[0]!.data, { agreementId: aid, clauseKey: 'no-hidden-chats', status: 'acknowledged' })

  const resolved = await appendedBy(t, carol, pid, 200, () =>
    i.resolve(carol, pid, aid, incident.id, { consequenceIndex: 1, note: texts.resolutionNote })
  )
  t.same(
    resolved.events.map((e) => e.type),
    ['incident.resolved'],
    'resolve: incident.resolved'
  )
  t.match(resolved.events[0], { actorId: carol.id, subject: { type: 'incident', id: incident.id } })
  t.same(resolved.events[0]!.data, {
    agreementId: aid,
    clauseKey: 'no-hidden-chats',
    consequenceIndex: 1,
    status: 'resolved'
  })

  const second = await i.reported(bob, pid, aid, i.reportBody(carol, { description: texts.description }))
  const disputed = await appendedBy(t, carol, pid, 200, () =>
    i.dispute(carol, pid, aid, second.id, { note: texts.disputeNote })
  )
  t.same(
    disputed.events.map((e) => e.type),
    ['incident.disputed'],
    'dispute: incident.disputed'
  )
  t.match(disputed.events[0], { actorId: carol.id, subject: { type: 'incident', id: second.id } })
  t.same(disputed.events[0]!.data, { agreementId: aid, clauseKey: 'no-hidden-chats', status: 'disputed' })
  const none = await appendedBy(t, alice, pid, 200, () =>
    i.resolve(alice, pid, aid, second.id, { consequenceIndex: null, note: texts.resolutionNote })
  )
  t.same(none.events[0]!.data, {
    agreementId: aid,
    clauseKey: 'no-hidden-chats',
    consequenceIndex: null,
    status: 'resolved'
  })

  const appreciated = await appendedBy(t, bob, pid, 201, () =>
    i.appreciate(bob, pid, aid, { text: texts.appreciation, clauseKey: 'no-hidden-chats' })
  )
  t.same(
    appreciated.events.map((e) => e.type),
    ['appreciation.added'],
    'appreciation: appreciation.added'
  )
  t.match(appreciated.events[0], {
    actorId: bob.id,
    subject: { type: 'appreciation', id: appreciated.res.json().id }
  })
  t.same(appreciated.events[0]!.data, { agreementId: aid, versionNumber: 1, clauseKey: 'no-hidden-chats' })
  const plain = await appendedBy(t, bob, pid, 201, () => i.appreciate(bob, pid, aid, { text: texts.appreciation }))
  t.same(plain.events[0]!.data, { agreementId: aid, versionNumber: 1, clauseKey: null })

  const shown = await i.getIncident(alice, pid, aid, incident.id)
  t.match(shown, {
    description: texts.description,
    answer: { note: texts.ackNote },
    resolution: { note: texts.resolutionNote }
  })
  t.equal(
    (await i.getIncident(alice, pid, aid, second.id)).answer.note,
    texts.disputeNote,
    'the texts are kept, on the incident'
  )
  const log = JSON.stringify(await k.eventsAfter(alice, pid, 0))
  for (const [field, text] of Object.entries(texts))
    t.notOk(log.includes(text.split(' ')[0]!), `no event holds the ${field}`)
  t.ok((await k.verify(alice, pid)).valid, 'the chain verifies')
})

t.test('resolving a reported incident whose subject left appends incident.resolved alone', async (t) => {
  const { pid, aid, alice, carol } = await arrange()
  const incident = await i.reported(alice, pid, aid, i.reportBody(carol))
  await k.leave(carol, pid)
  const { events } = await appendedBy(t, alice, pid, 200, () =>
    i.resolve(alice, pid, aid, incident.id, { consequenceIndex: 0, note: 'Gone.' })
  )
  t.same(
    events.map((e) => e.type),
    ['incident.resolved']
  )
  t.match(events[0], { actorId: alice.id, data: { consequenceIndex: 0, status: 'resolved' } })
})

t.test('reads and refused writes append nothing', async (t) => {
  const { pid, aid, alice, bob } = await arrange()
  const incident = await i.reported(alice, pid, aid, i.reportBody(bob))
  const appreciation = (await i.appreciate(alice, pid, aid, { text: 'Thanks.' })).json()
  const calls: Array<[string, () => Promise<LightMyRequestResponse>]> = [
    ['GET incidents', () => ctx.request({ method: 'GET', url: i.incidentsUrl(pid, aid), token: alice.token })],
    ['GET incident', () => ctx.request({ method: 'GET', url: i.incidentUrl(pid, aid, incident.id), token: bob.token })],
    ['GET appreciations', () => ctx.request({ method: 'GET', url: i.appreciationsUrl(pid, aid), token: bob.token })],
    [
      'GET appreciation',
      () => ctx.request({ method: 'GET', url: `${i.appreciationsUrl(pid, aid)}/${appreciation.id}`, token: bob.token })
    ],
    ['a report with an unknown clause', () => i.report(alice, pid, aid, i.reportBody(bob, { clauseKey: 'nope' }))],
    ['an acknowledgement by the reporter', () => i.acknowledge(alice, pid, aid, incident.id, {})],
    [
      'a resolution of a reported incident',
      () => i.resolve(alice, pid, aid, incident.id, { consequenceIndex: 0, note: 'x' })
    ],
    ['an appreciation of an unknown clause', () => i.appreciate(alice, pid, aid, { text: 'x', clauseKey: 'nope' })]
  ]
  for (const [what, call] of calls) {
    const types = await k.typesAppendedBy(alice, pid, call)
    t.same(types, [], `${what}: no event`)
  }
})
