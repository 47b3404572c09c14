import { randomUUID } from 'node:crypto'
import t from 'tap'
import { agreementKit, content } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { incidentKit, incidentTerms } from '../helpers/incidents.ts'
import { isInvalid, isProblem, problemOf } from '../helpers/problems.ts'

// Class: appreciations (kept commitments) on an active agreement: create, read, list, what they may name, who may
// write them, and that refused ones change nothing.

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const i = incidentKit(ctx, k)

async function arrange() {
  const [alice, bob, olga] = await Promise.all([k.person('Alice'), k.person('Bob'), k.person('Olga')])
  const { pid } = await k.partnership(alice, [bob], [olga])
  const aid = await k.activeAgreement(alice, [bob], pid, incidentTerms())
  return { pid, aid, alice, bob, olga }
}

const get = (token: string, url: string) => ctx.request({ method: 'GET', url, token })

t.test('a partner notes an appreciation; anyone in the partnership reads it, one by one and listed', async (t) => {
  const { pid, aid, alice, bob, olga } = await arrange()
  const res = await i.appreciate(bob, pid, aid, { text: 'You showed me your phone without my asking.' })
  t.equal(res.statusCode, 201, res.body)
  const first = res.json()
  t.equal(res.headers.location, `${i.appreciationsUrl(pid, aid)}/${first.id}`, 'Location names it')
  t.match(first, {
    partnershipId: pid,
    agreementId: aid,
    versionNumber: 1,
    clauseKey: null,
    authorId: bob.id,
    text: 'You showed me your phone without my asking.'
  })
  t.ok(Date.parse(first.createdAt) <= ctx.clock.now().getTime(), 'createdAt is set')

  const named = await i.appreciate(alice, pid, aid, { text: 'Home by eleven all week.', clauseKey: 'home-by-midnight' })
  t.equal(named.statusCode, 201, named.body)
  t.match(named.json(), { clauseKey: 'home-by-midnight', authorId: alice.id })

  for (const [who, person] of [
    ['a partner', alice],
    ['the observer', olga]
  ] as const) {
    const one = await get(person.token, `${i.appreciationsUrl(pid, aid)}/${first.id}`)
    t.equal(one.statusCode, 200, `${who} reads it`)
    t.same(one.json(), first, `${who}: GET shows what POST answered`)
    t.same(await i.allAppreciations(person, pid, aid), [first, named.json()], `${who}: the list, oldest first`)
  }
})

t.test('the appreciation list pages with a cursor', async (t) => {
  const { pid, aid, alice } = await arrange()
  const made: string[] = []
  for (let n = 0; n < 5; n++) made.push((await i.appreciate(alice, pid, aid, { text: `Thanks ${n}` })).json().id)
  const url = i.appreciationsUrl(pid, aid)
  const seen: string[][] = []
  let next = `${url}?limit=2`
  for (;;) {
    const page = (await get(alice.token, next)).json()
    seen.push(page.items.map((a: any) => a.id))
    if (page.nextCursor === null) break
    next = `${url}?limit=2&cursor=${encodeURIComponent(page.nextCursor)}`
  }
  t.same(
    seen.map((p) => p.length),
    [2, 2, 1]
  )
  t.same(seen.flat(), made, 'each once, in order')
  isInvalid(t, await get(alice.token, `${url}?limit=0`), '/limit', 'limit=0')
  isProblem(t, await get(alice.token, `${url}?cursor=nope`), 400, 'invalid-cursor', 'a cursor that is not one')
})

t.test(
  'an appreciation holds text and may name a clause of the active version: else 400, nothing changed',
  async (t) => {
    const { pid, aid, alice } = await arrange()
    const before = await i.state(alice, pid, aid)
    const cases: Array<[string, unknown, string]> = [
      ['an unknown clause key', { text: 'Thanks.', clauseKey: 'no-such-clause' }, '/clauseKey'],
      ['a malformed clause key', { text: 'Thanks.', clauseKey: 'Home By Midnight' }, '/clauseKey'],
      ['a null clause key', { text: 'Thanks.', clauseKey: null }, '/clauseKey'],
      ['no text', { clauseKey: 'home-by-midnight' }, '/text'],
      ['an empty text', { text: '' }, '/text'],
      ['a blank text', { text: '   ' }, '/text'],
      ['a text over 2000 characters', { text: 'x'.repeat(2001) }, '/text'],
      ['a text that is not a string', { text: ['Thanks'] }, '/text'],
      ['an extra field', { text: 'Thanks.', authorId: randomUUID() }, '/authorId']
    ]
    for (const [what, body, path] of cases) isInvalid(t, await i.appreciate(alice, pid, aid, body), path, what)
    t.same(await i.state(alice, pid, aid), before, 'no refused appreciation changed anything')
    t.equal((await i.appreciate(alice, pid, aid, { text: 'x'.repeat(2000) })).statusCode, 201, '2000 characters do')
  }
)

t.test('an appreciation names a clause of the version active now', async (t) => {
  const { pid, aid, alice, bob } = await arrange()
  const v2 = await k.proposeVersion(alice, pid, aid, {
    basedOn: 1,
    content: content({
      clauses: [{ key: 'weekly-date', text: 'A date night every week.', consequences: [] }]
    })
  })
  t.equal(v2.statusCode, 201, v2.body)
  const during = await i.appreciate(bob, pid, aid, { text: 'Thanks.', clauseKey: 'home-by-midnight' })
  t.equal(during.statusCode, 201, 'in revision: still about the active version 1')
  t.equal(during.json().versionNumber, 1)
  t.equal((await k.sign(bob, pid, aid, 2)).statusCode, 201, 'version 2 is active')
  isInvalid(
    t,
    await i.appreciate(bob, pid, aid, { text: 'Thanks.', clauseKey: 'home-by-midnight' }),
    '/clauseKey',
    'a clause only version 1 had'
  )
  const now = await i.appreciate(bob, pid, aid, { text: 'Lovely evening.', clauseKey: 'weekly-date' })
  t.equal(now.statusCode, 201, now.body)
  t.match(now.json(), { versionNumber: 2, clauseKey: 'weekly-date' })
  t.same(
    (await i.allAppreciations(alice, pid, aid)).map((a) => [a.versionNumber, a.clauseKey]),
    [
      [1, 'home-by-midnight'],
      [2, 'weekly-date']
    ],
    'each keeps the version it was noted under'
  )
})

t.test('an agreement that is not active takes no appreciation: 409, nothing changed', async (t) => {
  const { pid, alice, bob } = await arrange()
  const proposed: string = (await k.create(alice, pid, { content: incidentTerms({ title: 'Proposed' }) })).id
  const suspended = await k.activeAgreement(alice, [bob], pid, incidentTerms({ title: 'Suspended' }))
  const revoke = await ctx.request({
    method: 'DELETE',
    url: `${k.versionUrl(pid, suspended, 1)}/signatures/me`,
    token: alice.token
  })
  t.equal(revoke.statusCode, 204, revoke.body)
  const retired = await k.activeAgreement(alice, [bob], pid, incidentTerms({ title: 'Retired' }))
  t.equal((await k.proposeVersion(bob, pid, retired, { basedOn: 1, kind: 'retirement' })).statusCode, 201)
  t.equal((await k.sign(alice, pid, retired, 2)).statusCode, 201)
  for (const [what, aid, status] of [
    ['proposed only', proposed, 'proposed'],
    ['suspended', suspended, 'suspended'],
    ['retired', retired, 'retired']
  ] as const) {
    t.equal((await k.agreement(alice, pid, aid)).body.status, status, `${what}: the agreement is ${status}`)
    const before = await i.state(alice, pid, aid)
    isProblem(t, await i.appreciate(alice, pid, aid, { text: 'Thanks.' }), 409, 'agreement-not-active', what)
    isProblem(
      t,
      await i.appreciate(bob, pid, aid, { text: 'Thanks.', clauseKey: 'no-hidden-chats' }),
      409,
      'agreement-not-active',
      `${what}, naming a clause`
    )
    t.same(await i.state(alice, pid, aid), before, `${what}: nothing changed`)
  }
})

t.test('observers read appreciations but may not write one; unknown ids are 404', async (t) => {
  const { pid, aid, alice, bob, olga } = await arrange()
  const mine = (await i.appreciate(alice, pid, aid, { text: 'Thanks.' })).json()
  const before = await i.state(alice, pid, aid)
  isProblem(t, await i.appreciate(olga, pid, aid, { text: 'Well done.' }), 403, 'observer-read-only', 'observer')
  t.same(await i.state(alice, pid, aid), before, 'nothing changed')
  t.equal((await get(olga.token, i.appreciationsUrl(pid, aid))).statusCode, 200, 'the observer lists')

  const other = await k.activeAgreement(alice, [bob], pid, incidentTerms({ title: 'Other' }))
  for (const [what, url] of [
    ['an unknown appreciation', `${i.appreciationsUrl(pid, aid)}/${randomUUID()}`],
    ['an appreciation of another agreement', `${i.appreciationsUrl(pid, other)}/${mine.id}`]
  ] as const) {
    const res = await get(bob.token, url)
    isProblem(t, res, 404, 'not-found', what)
    t.equal(problemOf(res).detail, 'no such appreciation')
  }
  isInvalid(t, await get(bob.token, `${i.appreciationsUrl(pid, aid)}/123`), '/apid', 'a malformed id')
  t.same(await i.allAppreciations(bob, pid, other), [], "another agreement's list holds none")
})
