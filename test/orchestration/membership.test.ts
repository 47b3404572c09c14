import t from 'tap'
import { agreementKit, content } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem } from '../helpers/problems.ts'

// Joining and leaving span capabilities (src/orchestration): what each does to the partnership's agreements.
const ctx = await buildTestApp(t)
const k = agreementKit(ctx)

const sorted = (ids: string[]): string[] => [...ids].sort()

t.test('partners joining or leaving void open proposals; observers do not', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const carol = await k.person('Carol')
  const olga = await k.person('Olga')
  const { pid } = await k.partnership(alice, [bob])

  // A partner joins.
  const a = await k.create(alice, pid)
  const before = await k.headSeq(alice, pid)
  await k.join(carol, pid, 'partner', alice)
  const joined = await k.eventsAfter(alice, pid, before)
  t.same(
    joined.map((e) => e.type),
    ['invitation.created', 'member.joined', 'version.voided']
  )
  t.match(joined.at(-1), { actorId: carol.id, data: { agreementId: a.id, number: 1, reason: 'partner-joined' } })
  t.match((await k.version(alice, pid, a.id, 1)).body, { status: 'voided' })
  t.match((await k.agreement(alice, pid, a.id)).body, { openProposal: null, proposal: null })
  isProblem(t, await k.sign(bob, pid, a.id, 1), 409, 'version-not-open', 'signing a voided version')

  // A partner leaves (two remain: the partnership lives on).
  const b = await k.create(alice, pid, { content: content({ title: 'Money' }) })
  t.same(sorted(b.proposal.requiredSigners), sorted([alice.id, bob.id, carol.id]))
  t.same(await k.typesAppendedBy(alice, pid, () => k.leave(carol, pid)), ['member.left', 'version.voided'])
  const left = (await k.eventsAfter(alice, pid, 0)).at(-1)
  t.match(left, { type: 'version.voided', data: { agreementId: b.id, number: 1, reason: 'partner-left' } })
  t.match((await k.version(alice, pid, b.id, 1)).body, { status: 'voided' })

  // An observer joining or leaving voids nothing.
  const c = await k.create(alice, pid, { content: content({ title: 'Time' }) })
  const types = await k.typesAppendedBy(alice, pid, () => k.join(olga, pid, 'observer', alice, [alice, bob]))
  t.notOk(types.includes('version.voided'), 'no version voided when an observer joins')
  t.match((await k.version(alice, pid, c.id, 1)).body, { status: 'proposed' })
  t.same(await k.typesAppendedBy(alice, pid, () => k.leave(olga, pid)), ['member.left'], 'nor when an observer leaves')
  t.match((await k.agreement(alice, pid, c.id)).body, { openProposal: 1 })
  t.match((await k.sign(bob, pid, c.id, 1)).json(), { versionStatus: 'active' })
})

t.test('a dissolved partnership ends its agreements', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const { pid, agreements } = await k.partnership(alice, [bob])
  const active = await k.activeAgreement(alice, [bob], pid)
  t.ok((await k.agreement(alice, pid, active)).body.nextReviewAt, 'an active agreement has a next review')
  const proposed = (await k.create(alice, pid, { content: content({ title: 'Proposed' }) })).id
  const draft = (await k.create(alice, pid, { content: content({ title: 'Draft' }), draft: true })).id
  const retired = await k.activeAgreement(alice, [bob], pid, content({ title: 'Retired' }))
  t.equal((await k.proposeVersion(alice, pid, retired, { basedOn: 1, kind: 'retirement' })).statusCode, 201)
  t.equal((await k.sign(bob, pid, retired, 2)).statusCode, 201)

  const types = await k.typesAppendedBy(alice, pid, () => k.leave(bob, pid))
  t.same(types, ['member.left', 'version.voided', 'partnership.dissolved'])
  for (const aid of [active, proposed, draft]) {
    t.match((await k.agreement(alice, pid, aid)).body, { status: 'ended', nextReviewAt: null, openProposal: null })
  }
  t.match((await k.agreement(alice, pid, retired)).body, { status: 'retired' }, 'a retired agreement stays retired')
  const ended = (await ctx.request({ method: 'GET', url: `${agreements}?status=ended`, token: alice.token }))
    .json()
    .items.map((x: { id: string }) => x.id)
  t.same(sorted(ended), sorted([active, proposed, draft]))
  isProblem(
    t,
    await ctx.request({
      method: 'POST',
      url: agreements,
      token: alice.token,
      body: { content: content(), draft: true }
    }),
    409,
    'partnership-dissolved',
    'a dissolved partnership is read-only'
  )
  t.match(await k.verify(alice, pid), { valid: true })
})
