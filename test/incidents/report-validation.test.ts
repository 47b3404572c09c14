import t from 'tap'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { incidentKit, incidentTerms } from '../helpers/incidents.ts'
import { isInvalid, isProblem } from '../helpers/problems.ts'

// Class: what a report must be about (a clause of the active version, a partner it binds, a time within that
// version's life) and what it must hold; every refused report leaves everything as it was.

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const i = incidentKit(ctx, k)

/**
 * Alice and Bob (partners), Olga (an observer), Dave (a partner who left) and Eve (a stranger); an active
 * agreement whose `call-if-late` clause applies to Alice only.
 */
async function arrange() {
  const [alice, bob, olga, dave, eve] = await Promise.all([
    k.person('Alice'),
    k.person('Bob'),
    k.person('Olga'),
    k.person('Dave'),
    k.person('Eve')
  ])
  const { pid } = await k.partnership(alice, [bob, dave], [olga])
  await k.leave(dave, pid)
  const aid = await k.activeAgreement(alice, [bob], pid, incidentTerms({}, [alice.id]))
  const activatedAt: string = (await k.agreement(alice, pid, aid)).body.active.activatedAt
  ctx.clock.advance(5_000)
  return { pid, aid, activatedAt, alice, bob, olga, dave, eve }
}

t.test('a report about what the active version does not say, or about someone it does not bind, is 400', async (t) => {
  const { pid, aid, alice, bob, olga, dave, eve } = await arrange()
  const before = await i.state(alice, pid, aid)
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['an unknown clause key', i.reportBody(bob, { clauseKey: 'no-such-clause' }), '/clauseKey'],
    ['a malformed clause key', i.reportBody(bob, { clauseKey: 'No Hidden Chats' }), '/clauseKey'],
    ['a partner the clause does not apply to', i.reportBody(bob, { clauseKey: 'call-if-late' }), '/subjectId'],
    ['a stranger as subject', i.reportBody(eve), '/subjectId'],
    ['an observer as subject', i.reportBody(olga), '/subjectId'],
    ['a partner who left as subject', i.reportBody(dave), '/subjectId'],
    ['a user id nobody has', i.reportBody('01890000-0000-7000-8000-000000000000'), '/subjectId'],
    ['a malformed subject id', i.reportBody('bob'), '/subjectId']
  ]
  for (const [what, body, path] of cases) {
    isInvalid(t, await i.report(alice, pid, aid, body), path, `${what} (reported by a partner)`)
    if (path === '/subjectId' && body.subjectId !== 'bob')
      isInvalid(t, await i.report(bob, pid, aid, body), path, `${what} (reported by another partner)`)
  }
  t.same(await i.state(alice, pid, aid), before, 'no refused report changed anything')

  const bound = await i.report(bob, pid, aid, i.reportBody(alice, { clauseKey: 'call-if-late' }))
  t.equal(bound.statusCode, 201, `the partner the clause names may be its subject (${bound.body})`)
  t.match(bound.json(), {
    clauseKey: 'call-if-late',
    subjectId: alice.id,
    clause: { consequences: ['I cook on Sunday.'] }
  })
  const self = await i.report(alice, pid, aid, i.reportBody(alice, { clauseKey: 'call-if-late' }))
  t.equal(self.statusCode, 201, 'and report herself')
})

t.test('occurredAt lies between the activation of the active version and now (60 s tolerance)', async (t) => {
  const { pid, aid, activatedAt, alice, bob } = await arrange()
  const now = ctx.clock.now().getTime()
  const before = await i.state(alice, pid, aid)
  const cases: Array<[string, string]> = [
    ['five minutes in the future', new Date(now + 5 * 60_000).toISOString()],
    ['a year in the future', new Date(now + 365 * 86_400_000).toISOString()],
    ['a millisecond before the activation', new Date(Date.parse(activatedAt) - 1).toISOString()],
    ['long before the activation', '2001-01-01T00:00:00Z'],
    ['not a date', 'yesterday'],
    ['a date without a time', '2026-01-01'],
    ['a time without an offset', new Date(now).toISOString().replace('Z', '')]
  ]
  for (const [what, occurredAt] of cases)
    isInvalid(t, await i.report(alice, pid, aid, i.reportBody(bob, { occurredAt })), '/occurredAt', what)
  isInvalid(t, await i.report(alice, pid, aid, i.reportBody(bob, { occurredAt: now })), '/occurredAt', 'a number')
  t.same(await i.state(alice, pid, aid), before, 'no refused report changed anything')

  const atActivation = await i.report(alice, pid, aid, i.reportBody(bob, { occurredAt: activatedAt }))
  t.equal(atActivation.statusCode, 201, `at the very activation (${atActivation.body})`)
  const ahead = new Date(now + 30_000).toISOString()
  const tolerated = await i.report(alice, pid, aid, i.reportBody(bob, { occurredAt: ahead }))
  t.equal(tolerated.statusCode, 201, `30 s ahead is within the clock tolerance (${tolerated.body})`)
  t.equal(tolerated.json().occurredAt, ahead)
  const local = new Date(now - 2000)
  const offset = await i.report(
    alice,
    pid,
    aid,
    i.reportBody(bob, {
      occurredAt: new Date(local.getTime() + 2 * 3600_000).toISOString().replace('Z', '+02:00')
    })
  )
  t.equal(offset.statusCode, 201, offset.body)
  t.equal(offset.json().occurredAt, local.toISOString(), 'an offset time is answered in UTC')
})

t.test('occurredAt before the active version but while an earlier version was active is refused', async (t) => {
  const { pid, aid, alice, bob } = await arrange()
  const whileV1 = ctx.clock.now().toISOString()
  ctx.clock.advance(5_000)
  await k.refresh([alice, bob])
  const v2 = await k.proposeVersion(alice, pid, aid, { basedOn: 1, content: incidentTerms({ title: 'Second' }) })
  t.equal(v2.statusCode, 201, v2.body)
  t.equal((await k.sign(bob, pid, aid, 2)).statusCode, 201, 'version 2 is active')
  const before = await i.state(alice, pid, aid)
  isInvalid(t, await i.report(alice, pid, aid, i.reportBody(bob, { occurredAt: whileV1 })), '/occurredAt', 'under v1')
  t.same(await i.state(alice, pid, aid), before, 'nothing changed')
})

t.test('a report missing a field, or with one too many, is 400 naming it', async (t) => {
  const { pid, aid, alice, bob } = await arrange()
  const before = await i.state(alice, pid, aid)
  for (const field of ['clauseKey', 'subjectId', 'occurredAt', 'description']) {
    const { [field]: _gone, ...body } = i.reportBody(bob)
    isInvalid(t, await i.report(alice, pid, aid, body), `/${field}`, `without ${field}`)
    isInvalid(t, await i.report(alice, pid, aid, { ...body, [field]: null }), `/${field}`, `${field}: null`)
  }
  isInvalid(t, await i.report(alice, pid, aid, i.reportBody(bob, { description: '' })), '/description', 'empty')
  isInvalid(t, await i.report(alice, pid, aid, i.reportBody(bob, { description: ' \n ' })), '/description', 'blank')
  isInvalid(
    t,
    await i.report(alice, pid, aid, i.reportBody(bob, { description: 'x'.repeat(4001) })),
    '/description',
    'longer than 4000'
  )
  isInvalid(t, await i.report(alice, pid, aid, i.reportBody(bob, { status: 'resolved' })), '/status', 'an extra field')
  isInvalid(t, await i.report(alice, pid, aid, i.reportBody(bob, { description: 42 })), '/description', 'a number')
  isProblem(t, await i.report(alice, pid, aid, undefined), 400, 'validation-failed', 'no body')
  isProblem(t, await i.report(alice, pid, aid, []), 400, 'validation-failed', 'an array')
  t.same(await i.state(alice, pid, aid), before, 'no refused report changed anything')
  const longest = await i.report(alice, pid, aid, i.reportBody(bob, { description: 'x'.repeat(4000) }))
  t.equal(longest.statusCode, 201, '4000 characters are fine')
})

t.test('an agreement that is not active takes no incidents: 409 agreement-not-active', async (t) => {
  const { pid, aid: active, alice, bob } = await arrange()
  const proposed: string = (await k.create(alice, pid, { content: incidentTerms({ title: 'Only proposed' }) })).id
  const draft: string = (await k.create(alice, pid, { content: incidentTerms({ title: 'A draft' }), draft: true })).id
  const retired = await k.activeAgreement(alice, [bob], pid, incidentTerms({ title: 'To retire' }))
  t.equal((await k.proposeVersion(alice, pid, retired, { basedOn: 1, kind: 'retirement' })).statusCode, 201)
  t.equal((await k.sign(bob, pid, retired, 2)).statusCode, 201)
  t.equal((await k.agreement(alice, pid, retired)).body.status, 'retired')
  const suspended = await k.activeAgreement(alice, [bob], pid, incidentTerms({ title: 'To suspend' }))
  const revoked = await ctx.request({
    method: 'DELETE',
    url: `${k.versionUrl(pid, suspended, 1)}/signatures/me`,
    token: bob.token
  })
  t.equal(revoked.statusCode, 204, revoked.body)
  t.equal((await k.agreement(alice, pid, suspended)).body.status, 'suspended')
  ctx.clock.advance(5_000)
  await k.refresh([alice, bob])

  for (const [what, aid] of [
    ['a proposed-only agreement', proposed],
    ['a draft', draft],
    ['a retired agreement', retired],
    ['a suspended agreement', suspended]
  ] as const) {
    const before = await i.state(alice, pid, aid)
    const res = await i.report(alice, pid, aid, i.reportBody(bob))
    isProblem(t, res, 409, 'agreement-not-active', what)
    isProblem(
      t,
      await i.report(alice, pid, aid, i.reportBody(bob, { clauseKey: 'no-such-clause' })),
      409,
      'agreement-not-active',
      `${what}, even with an unknown clause`
    )
    t.same(await i.state(alice, pid, aid), before, `${what}: nothing changed`)
  }

  const v2 = await k.proposeVersion(bob, pid, active, { basedOn: 1, content: incidentTerms({ title: 'Revised' }) })
  t.equal(v2.statusCode, 201, v2.body)
  t.equal((await k.agreement(alice, pid, active)).body.status, 'in_revision')
  const during = await i.report(alice, pid, active, i.reportBody(bob))
  t.equal(
    during.statusCode,
    201,
    `an agreement in revision still takes incidents on its active version (${during.body})`
  )
  t.equal(during.json().versionNumber, 1)
})

t.test('a dissolved partnership takes no incidents: 409, nothing changed', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const { pid } = await k.partnership(alice, [bob])
  const aid = await k.activeAgreement(alice, [bob], pid, incidentTerms())
  ctx.clock.advance(5_000)
  await k.leave(bob, pid)
  const before = await i.state(alice, pid, aid)
  isProblem(t, await i.report(alice, pid, aid, i.reportBody(alice)), 409, 'partnership-dissolved', 'dissolved')
  t.same(await i.state(alice, pid, aid), before, 'nothing changed')
})
