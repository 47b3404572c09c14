import t from 'tap'
import { agreementKit, type Person } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isInvalid, isProblem, problemShape } from '../helpers/problems.ts'

// Who may read GET …/{pid}/agenda: current members (observers included); a stranger, a former member or an unknown
// partnership get the same 404; no token 401; a token without agreements:read 403. And an agenda holds only its
// own partnership.

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const UNKNOWN = '0190f5f0-0000-7000-8000-000000000000'
const agenda = (pid: string, token?: string) =>
  ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/agenda`, ...(token ? { token } : {}) })

const empty = { reviews: [], proposals: [], incidents: [], suspended: [], sinceLastReview: [] }

t.test('members read it; nobody else can tell the partnership exists', async (t) => {
  const [alice, bob, carol, olga, mallory] = [
    await k.person('Alice'),
    await k.person('Bob'),
    await k.person('Carol'),
    await k.person('Olga'),
    await k.person('Mallory')
  ]
  const { pid } = await k.partnership(alice, [bob, carol], [olga])

  for (const [who, role] of [
    [alice, 'partner'],
    [bob, 'partner'],
    [carol, 'partner'],
    [olga, 'observer']
  ] as Array<[Person, string]>) {
    const res = await agenda(pid, who.token)
    t.equal(res.statusCode, 200, `${who.name}: 200`)
    t.match(
      res.json(),
      { partnershipId: pid, role, ...empty },
      `${who.name}: a ${role}, with nothing to talk about yet`
    )
  }
  t.equal((await agenda(pid, await k.scoped(olga, 'agreements:read'))).statusCode, 200, 'agreements:read is enough')
  isProblem(
    t,
    await agenda(pid, await k.scoped(alice, 'partnerships:read audit:read')),
    403,
    'insufficient-scope',
    'a token without agreements:read'
  )
  isProblem(t, await agenda(pid), 401, 'token-required', 'no token')
  const stranger = await agenda(pid, mallory.token)
  isProblem(t, stranger, 404, 'not-found', 'a stranger')
  const unknown = await agenda(UNKNOWN, mallory.token)
  isProblem(t, unknown, 404, 'not-found', 'an unknown partnership')
  t.same(problemShape(stranger), problemShape(unknown), 'a stranger cannot tell it from a partnership that is not')
  isInvalid(t, await agenda('not-a-uuid', alice.token), '/pid', 'a malformed id')

  await k.leave(carol, pid)
  await k.leave(olga, pid)
  const left = await agenda(pid, carol.token)
  isProblem(t, left, 404, 'not-found', 'a partner who left')
  t.same(problemShape(left), problemShape(unknown), 'the same answer as for a stranger')
  isProblem(t, await agenda(pid, olga.token), 404, 'not-found', 'an observer who left')
  t.equal((await agenda(pid, bob.token)).statusCode, 200, 'the others still read theirs')
})

t.test('an agenda holds only its own partnership', async (t) => {
  const [alice, bob, dave] = [await k.person('Alice'), await k.person('Bob'), await k.person('Dave')]
  const ours = (await k.partnership(alice, [bob])).pid
  const theirs = (await k.partnership(bob, [dave])).pid
  // Bob is a partner of both; everything happens in the other one.
  const aid = await k.activeAgreement(bob, [dave], theirs)
  const incident = await ctx.request({
    method: 'POST',
    url: `${k.agreementUrl(theirs, aid)}/incidents`,
    token: dave.token,
    body: {
      clauseKey: 'no-hidden-chats',
      subjectId: bob.id,
      occurredAt: ctx.clock.now().toISOString(),
      description: 'It happened.'
    }
  })
  t.equal(incident.statusCode, 201, incident.body)
  await k.create(dave, theirs)
  k.expectStatus(
    await ctx.request({ method: 'POST', url: `${k.agreementUrl(theirs, aid)}/reviews`, token: dave.token }),
    201,
    'review'
  )

  t.match((await agenda(ours, bob.token)).json(), { partnershipId: ours, ...empty }, 'nothing of the other partnership')
  const other = (await agenda(theirs, bob.token)).json()
  t.equal(other.reviews.length, 1)
  t.equal(other.proposals.length, 1)
  t.match(other.incidents, [{ awaitingYourAnswer: true }])
  isProblem(t, await agenda(theirs, alice.token), 404, 'not-found', 'Alice is not a member of the other')
})
