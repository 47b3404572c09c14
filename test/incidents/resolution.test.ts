import t from 'tap'
import { agreementKit, content } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { incidentKit, incidentTerms } from '../helpers/incidents.ts'
import { isInvalid, isProblem } from '../helpers/problems.ts'

// Class: the consequence a resolution names is an index into the clause's consequences as the incident's own
// version wrote them; an incident reads the same, clause and consequence, whatever version is active later.

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const i = incidentKit(ctx, k)

async function arrange() {
  const [alice, bob] = await Promise.all([k.person('Alice'), k.person('Bob')])
  const { pid } = await k.partnership(alice, [bob])
  const aid = await k.activeAgreement(alice, [bob], pid, incidentTerms())
  ctx.clock.advance(5_000)
  return { pid, aid, alice, bob }
}

t.test('consequenceIndex must name one of the clause consequences, or be null', async (t) => {
  const { pid, aid, alice, bob } = await arrange()
  const two = await i.reported(alice, pid, aid, i.reportBody(bob)) // no-hidden-chats: two consequences
  t.equal((await i.acknowledge(bob, pid, aid, two.id, {})).statusCode, 200)
  const none = await i.reported(alice, pid, aid, i.reportBody(bob, { clauseKey: 'home-by-midnight' }))
  t.same(none.clause.consequences, [], 'home-by-midnight has no agreed consequences')
  t.equal((await i.dispute(bob, pid, aid, none.id, { note: 'I called.' })).statusCode, 200)

  const before = await i.state(alice, pid, aid)
  const note = 'We talked.'
  const refused: Array<[string, string, unknown]> = [
    ['-1', two.id, { consequenceIndex: -1, note }],
    ['the number of consequences (2)', two.id, { consequenceIndex: 2, note }],
    ['10', two.id, { consequenceIndex: 10, note }],
    ['a fraction', two.id, { consequenceIndex: 0.5, note }],
    ['a string', two.id, { consequenceIndex: '1', note }],
    ['a boolean', two.id, { consequenceIndex: true, note }],
    ['missing (null must be said)', two.id, { note }],
    ['0 on a clause without consequences', none.id, { consequenceIndex: 0, note }],
    ['1 on a clause without consequences', none.id, { consequenceIndex: 1, note }]
  ]
  for (const [what, iid, body] of refused)
    isInvalid(t, await i.resolve(alice, pid, aid, iid, body), '/consequenceIndex', `consequenceIndex ${what}`)
  for (const [what, body] of [
    ['without a note', { consequenceIndex: 0 }],
    ['with a blank note', { consequenceIndex: 0, note: '  ' }],
    ['with a note over 2000 characters', { consequenceIndex: 0, note: 'x'.repeat(2001) }]
  ] as const)
    isInvalid(t, await i.resolve(alice, pid, aid, two.id, body), '/note', what)
  isInvalid(t, await i.resolve(alice, pid, aid, two.id, { consequenceIndex: 0, note, extra: 1 }), '/extra', 'extra')
  t.same(await i.state(alice, pid, aid), before, 'no refused resolution changed anything')

  const last = await i.resolve(alice, pid, aid, two.id, { consequenceIndex: 1, note })
  t.equal(last.statusCode, 200, last.body)
  t.match(last.json().resolution, { consequenceIndex: 1, consequence: 'We see our counselor together.', note })
  const nothing = await i.resolve(alice, pid, aid, none.id, { consequenceIndex: null, note })
  t.equal(nothing.statusCode, 200, nothing.body)
  t.match(nothing.json().resolution, { consequenceIndex: null, consequence: null, note })

  const first = await i.reported(bob, pid, aid, i.reportBody(alice))
  t.equal((await i.acknowledge(alice, pid, aid, first.id, {})).statusCode, 200)
  const zero = await i.resolve(bob, pid, aid, first.id, { consequenceIndex: 0, note: 'x'.repeat(2000) })
  t.equal(zero.statusCode, 200, zero.body)
  t.equal(zero.json().resolution.consequence, 'We talk it through within 48 hours.', 'index 0 is the first one')
  const noneOnTwo = await i.reported(bob, pid, aid, i.reportBody(alice))
  t.equal((await i.acknowledge(alice, pid, aid, noneOnTwo.id, {})).statusCode, 200)
  const declined = await i.resolve(bob, pid, aid, noneOnTwo.id, { consequenceIndex: null, note: 'None needed.' })
  t.equal(declined.statusCode, 200, 'null (none applied) is valid on a clause with consequences too')
  t.equal(declined.json().resolution.consequence, null)
})

t.test('a resolved incident ignores a second resolution whatever its index: 409, not 400', async (t) => {
  const { pid, aid, alice, bob } = await arrange()
  const incident = await i.reported(alice, pid, aid, i.reportBody(bob))
  t.equal((await i.acknowledge(bob, pid, aid, incident.id, {})).statusCode, 200)
  t.equal((await i.resolve(alice, pid, aid, incident.id, { consequenceIndex: 0, note: 'Done.' })).statusCode, 200)
  isProblem(
    t,
    await i.resolve(alice, pid, aid, incident.id, { consequenceIndex: 5, note: 'Again.' }),
    409,
    'incident-status'
  )
})

t.test('an incident keeps the clause and consequences of its version after a new version is active', async (t) => {
  const { pid, aid, alice, bob } = await arrange()
  const v1Clause = {
    key: 'no-hidden-chats',
    text: "We don't delete or hide conversations with people we've dated.",
    consequences: ['We talk it through within 48 hours.', 'We see our counselor together.']
  }
  const early = await i.reported(alice, pid, aid, i.reportBody(bob, { description: 'Resolved under v1.' }))
  t.equal((await i.acknowledge(bob, pid, aid, early.id, {})).statusCode, 200)
  t.equal((await i.resolve(alice, pid, aid, early.id, { consequenceIndex: 0, note: 'Talked.' })).statusCode, 200)
  const open = await i.reported(alice, pid, aid, i.reportBody(bob, { description: 'Still open when v2 came.' }))
  const removed = await i.reported(alice, pid, aid, i.reportBody(bob, { clauseKey: 'home-by-midnight' }))

  // Version 2 rewrites the clause, keeps one consequence and drops home-by-midnight.
  const v2Content = content({
    title: 'Trust rebuilding',
    clauses: [
      {
        key: 'no-hidden-chats',
        text: 'We keep our chats open to each other.',
        consequences: ['We take a day apart.']
      }
    ]
  })
  const proposed = await k.proposeVersion(bob, pid, aid, { basedOn: 1, content: v2Content })
  t.equal(proposed.statusCode, 201, proposed.body)
  const during = await i.reported(alice, pid, aid, i.reportBody(bob, { description: 'While v2 was proposed.' }))
  t.equal(during.versionNumber, 1, 'while v2 is only proposed, incidents are about v1')
  t.same(during.clause, v1Clause)
  const views = async () => ({
    early: await i.getIncident(alice, pid, aid, early.id),
    open: await i.getIncident(alice, pid, aid, open.id),
    removed: await i.getIncident(alice, pid, aid, removed.id),
    list: await i.allIncidents(alice, pid, aid)
  })
  const underV1 = await views()
  t.equal((await k.sign(alice, pid, aid, 2)).statusCode, 201, 'version 2 is active')
  t.equal((await k.agreement(alice, pid, aid)).body.activeVersion, 2)
  ctx.clock.advance(1000)

  t.same(await views(), underV1, 'GET and the list show every incident exactly as before')
  for (const v of [
    underV1.early,
    underV1.open,
    ...underV1.list.filter((x: any) => x.clauseKey === 'no-hidden-chats')
  ]) {
    t.equal(v.versionNumber, 1)
    t.same(v.clause, v1Clause, `incident ${v.id.slice(-6)}: v1's clause text and consequences`)
  }
  t.match(underV1.early.resolution, { consequenceIndex: 0, consequence: 'We talk it through within 48 hours.' })

  // Index 1 exists in v1 (two consequences) but not in v2 (one): the incident's own version decides.
  t.equal((await i.dispute(bob, pid, aid, open.id, { note: 'I archived it.' })).statusCode, 200)
  const resolved = await i.resolve(bob, pid, aid, open.id, { consequenceIndex: 1, note: 'Counselor booked.' })
  t.equal(resolved.statusCode, 200, resolved.body)
  t.match(resolved.json(), {
    versionNumber: 1,
    clause: v1Clause,
    resolution: { consequenceIndex: 1, consequence: 'We see our counselor together.' }
  })

  // A clause v2 dropped: its v1 incident can still be answered and resolved; a new report cannot name it.
  t.equal((await i.acknowledge(bob, pid, aid, removed.id, {})).statusCode, 200)
  const gone = await i.resolve(alice, pid, aid, removed.id, { consequenceIndex: null, note: 'Fine.' })
  t.equal(gone.statusCode, 200, gone.body)
  t.equal(gone.json().clause.text, 'We are home by midnight or we call.')
  isInvalid(
    t,
    await i.report(alice, pid, aid, i.reportBody(bob, { clauseKey: 'home-by-midnight' })),
    '/clauseKey',
    'v2 has no home-by-midnight'
  )

  // A new incident is about v2, whose clause has one consequence: index 1 is out of range there.
  const late = await i.reported(alice, pid, aid, i.reportBody(bob, { description: 'Under v2.' }))
  t.match(late, {
    versionNumber: 2,
    clause: {
      key: 'no-hidden-chats',
      text: 'We keep our chats open to each other.',
      consequences: ['We take a day apart.']
    }
  })
  t.equal((await i.acknowledge(bob, pid, aid, late.id, {})).statusCode, 200)
  isInvalid(
    t,
    await i.resolve(alice, pid, aid, late.id, { consequenceIndex: 1, note: 'x' }),
    '/consequenceIndex',
    'index 1 on v2'
  )
  const v2Resolved = await i.resolve(alice, pid, aid, late.id, { consequenceIndex: 0, note: 'A day apart.' })
  t.equal(v2Resolved.json().resolution.consequence, 'We take a day apart.')

  // And once more after a third version: the resolutions read as they were written.
  const final = {
    early: await i.getIncident(bob, pid, aid, early.id),
    open: await i.getIncident(bob, pid, aid, open.id)
  }
  const v3 = await k.proposeVersion(alice, pid, aid, {
    basedOn: 2,
    content: content({
      title: 'Trust rebuilding',
      clauses: [{ key: 'no-hidden-chats', text: 'Third text.', consequences: ['Third consequence.'] }]
    })
  })
  t.equal(v3.statusCode, 201, v3.body)
  t.equal((await k.sign(bob, pid, aid, 3)).statusCode, 201)
  t.same(
    { early: await i.getIncident(bob, pid, aid, early.id), open: await i.getIncident(bob, pid, aid, open.id) },
    final,
    'after version 3 too'
  )
})

t.test('a clause with ten consequences takes indices 0 to 9', async (t) => {
  const { pid, alice, bob } = await arrange()
  const ten = Array.from({ length: 10 }, (_, n) => `Consequence number ${n}.`)
  const aid = await k.activeAgreement(
    alice,
    [bob],
    pid,
    content({ title: 'Ten', clauses: [{ key: 'many', text: 'A clause with ten consequences.', consequences: ten }] })
  )
  ctx.clock.advance(1000)
  const incident = await i.reported(alice, pid, aid, i.reportBody(bob, { clauseKey: 'many' }))
  t.equal((await i.acknowledge(bob, pid, aid, incident.id, {})).statusCode, 200)
  isInvalid(
    t,
    await i.resolve(alice, pid, aid, incident.id, { consequenceIndex: 10, note: 'x' }),
    '/consequenceIndex',
    'index 10'
  )
  const ninth = await i.resolve(alice, pid, aid, incident.id, { consequenceIndex: 9, note: 'The last one.' })
  t.equal(ninth.statusCode, 200, ninth.body)
  t.match(ninth.json().resolution, { consequenceIndex: 9, consequence: 'Consequence number 9.' })
})

t.test('incidents of an agreement that was suspended or retired can still be answered and resolved', async (t) => {
  const { pid, aid, alice, bob } = await arrange()
  const open = await i.reported(alice, pid, aid, i.reportBody(bob))
  const answered = await i.reported(bob, pid, aid, i.reportBody(alice))
  t.equal((await i.dispute(alice, pid, aid, answered.id, { note: 'No.' })).statusCode, 200)
  const revoked = await ctx.request({
    method: 'DELETE',
    url: `${k.versionUrl(pid, aid, 1)}/signatures/me`,
    token: bob.token
  })
  t.equal(revoked.statusCode, 204, revoked.body)
  t.equal((await k.agreement(alice, pid, aid)).body.status, 'suspended')
  isProblem(t, await i.report(alice, pid, aid, i.reportBody(bob)), 409, 'agreement-not-active', 'no new incident')
  const acked = await i.acknowledge(bob, pid, aid, open.id, { note: 'Still sorry.' })
  t.equal(acked.statusCode, 200, acked.body)
  const resolved = await i.resolve(bob, pid, aid, answered.id, { consequenceIndex: 1, note: 'Closed anyway.' })
  t.equal(resolved.statusCode, 200, resolved.body)
  t.equal(resolved.json().resolution.consequence, 'We see our counselor together.', "v1's consequence")
  const last = await i.resolve(alice, pid, aid, open.id, { consequenceIndex: null, note: 'Closed.' })
  t.equal(last.statusCode, 200, last.body)
  t.match((await k.agreement(alice, pid, aid)).body, { status: 'suspended', openIncidents: 0 })
})
