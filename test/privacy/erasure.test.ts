import { randomBytes } from 'node:crypto'
import t from 'tap'
import { execute } from '../../src/db/driver.ts'
import { agreementKit, content, type Person } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { rawDump as rawDumpOf } from '../helpers/dump.ts'
import { incidentKit, incidentTerms } from '../helpers/incidents.ts'
import { isProblem } from '../helpers/problems.ts'
import { reviewKit } from '../helpers/reviews.ts'

// Erasure (SPEC §3.8): DELETE /v1/me leaves every partnership, stops what the person set going, and
// crypto-shreds every text only they wrote, so the others keep their records, signatures and a verified
// chain, while the erased person's words read null (erased: true) in every view and in a raw dump.

const ctx = await buildTestApp(t, { env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_WORKER_INTERVAL_MS: '0' } })
const k = agreementKit(ctx)
const i = incidentKit(ctx, k)
const r = reviewKit(ctx, k)

/** A text nobody else writes: found in a dump or a body only if it leaked. */
const marked = (what: string) => `${what}-${randomBytes(6).toString('hex')}`

const rawDump = () => rawDumpOf(ctx.deps.db)

async function me(who: Person, token = who.token) {
  return ctx.request({ method: 'GET', url: '/v1/me', token })
}

const erase = (who: Person, ifMatch: string | undefined, token = who.token) =>
  ctx.request({
    method: 'DELETE',
    url: '/v1/me',
    token,
    headers: ifMatch === undefined ? {} : { 'if-match': ifMatch }
  })

/**
 * Alice, Bob and Carol share a partnership with one active agreement; each writes texts of every kind, Alice
 * has a draft, a calendar feed, a webhook and a pending invitation; Alice and Bob also share a second
 * partnership (which her leaving dissolves).
 */
async function arrange() {
  const [alice, bob, carol] = await Promise.all([k.person('Alice'), k.person('Bob'), k.person('Carol')])
  const { pid } = await k.partnership(alice, [bob, carol])
  const aid = await k.activeAgreement(alice, [bob, carol], pid, incidentTerms())
  ctx.clock.advance(5_000)
  const texts = {
    aliceDescription: marked('alice-description'),
    aliceAck: marked('alice-ack'),
    aliceAppreciation: marked('alice-appreciation'),
    aliceNote: marked('alice-review-note'),
    aliceDecline: marked('alice-decline'),
    bobDescription: marked('bob-description'),
    bobAppreciation: marked('bob-appreciation'),
    bobNote: marked('bob-review-note'),
    carolResolution: marked('carol-resolution'),
    aliceResolution: marked('alice-resolution')
  }
  // Bob reports Alice; she acknowledges; Carol resolves. Alice reports Bob; he disputes; Alice resolves.
  const aboutAlice = await i.reported(bob, pid, aid, i.reportBody(alice, { description: texts.bobDescription }))
  t.equal((await i.acknowledge(alice, pid, aid, aboutAlice.id, { note: texts.aliceAck })).statusCode, 200)
  t.equal(
    (await i.resolve(carol, pid, aid, aboutAlice.id, { consequenceIndex: null, note: texts.carolResolution }))
      .statusCode,
    200
  )
  const aboutBob = await i.reported(alice, pid, aid, i.reportBody(bob, { description: texts.aliceDescription }))
  t.equal((await i.dispute(bob, pid, aid, aboutBob.id, { note: 'I did not.' })).statusCode, 200)
  t.equal(
    (await i.resolve(alice, pid, aid, aboutBob.id, { consequenceIndex: null, note: texts.aliceResolution })).statusCode,
    200
  )
  t.equal((await i.appreciate(alice, pid, aid, { text: texts.aliceAppreciation })).statusCode, 201)
  t.equal((await i.appreciate(bob, pid, aid, { text: texts.bobAppreciation })).statusCode, 201)
  // an early review everyone answers (keep: it completes)
  const review = k.expectStatus(await r.openEarly(alice, pid, aid), 201, 'open review').json()
  for (const [who, note] of [
    [alice, texts.aliceNote],
    [bob, texts.bobNote],
    [carol, null]
  ] as const)
    k.expectStatus(
      await r.answer(who, pid, aid, review.id, { outcome: 'keep', rating: 4, ...(note ? { note } : {}) }),
      200,
      'answer'
    )
  // Bob proposes version 2; Alice declines it with a reason
  const v2 = k
    .expectStatus(
      await k.proposeVersion(bob, pid, aid, { basedOn: 1, content: incidentTerms({ title: 'Second' }) }),
      201,
      'propose'
    )
    .json()
  k.expectStatus(
    await ctx.request({
      method: 'POST',
      url: `${k.agreementUrl(pid, aid)}/versions/${v2.number}/decline`,
      token: alice.token,
      body: { reason: texts.aliceDecline }
    }),
    200,
    'decline'
  )
  // Alice's draft, calendar feed, webhook and pending invitation
  const draft = await k.create(alice, pid, { content: content({ title: marked('alice-draft') }), draft: true })
  k.expectStatus(await ctx.request({ method: 'POST', url: '/v1/me/calendar-tokens', token: alice.token }), 201, 'feed')
  const feed = (await ctx.request({ method: 'GET', url: '/v1/me/calendar-tokens', token: alice.token })).json()
  const calendarUrl = new URL(
    (await ctx.request({ method: 'POST', url: '/v1/me/calendar-tokens', token: alice.token })).json().url
  ).pathname
  t.equal((await ctx.request({ method: 'GET', url: calendarUrl })).statusCode, 200, 'the feed works before')
  const webhook = k
    .expectStatus(
      await ctx.request({
        method: 'POST',
        url: `/v1/partnerships/${pid}/webhooks`,
        token: alice.token,
        body: { url: 'https://127.0.0.1:9/hook', eventTypes: ['*'] }
      }),
      201,
      'webhook'
    )
    .json()
  const invitation = await k.invite(alice, pid, 'observer')
  // a second partnership of Alice and Bob only
  const second = await k.partnership(alice, [bob])
  const secondAid = await k.activeAgreement(bob, [alice], second.pid)
  return {
    alice,
    bob,
    carol,
    pid,
    aid,
    texts,
    aboutAlice,
    aboutBob,
    review,
    v2,
    draft,
    feed,
    calendarUrl,
    webhook,
    invitation,
    second,
    secondAid
  }
}

t.test('erasing one partner leaves the others whole and shreds exactly her words', async (t) => {
  const w = await arrange()
  const { alice, bob, carol, pid, aid, texts } = w
  const dumpBefore = await rawDump()
  for (const text of Object.values(texts))
    t.notOk(dumpBefore.includes(text), `texts are sealed at rest even before erasure: ${text.split('-')[0]}…`)
  const signaturesBefore = (await k.version(bob, pid, aid, 1)).body.signatures
  const verifiedBefore = await k.verify(bob, pid)

  const etag = (await me(alice)).headers.etag as string
  isProblem(t, await erase(alice, undefined), 428, 'precondition-required')
  isProblem(t, await erase(alice, '"v999"'), 412, 'precondition-failed')
  t.equal((await me(alice)).statusCode, 200, 'a refused erasure changed nothing')
  const erased = await erase(alice, etag)
  t.equal(erased.statusCode, 204, erased.body)

  // her words read null, erased: true, in every view; everyone else's are intact
  const aboutAlice = await i.getIncident(bob, pid, aid, w.aboutAlice.id)
  t.equal(aboutAlice.description, texts.bobDescription, "Bob's description stays")
  t.equal(aboutAlice.answer.note, null, "Alice's acknowledgement note is gone")
  t.equal(aboutAlice.resolution.note, texts.carolResolution, "Carol's resolution note stays")
  t.equal(aboutAlice.erased, true)
  const aboutBob = await i.getIncident(carol, pid, aid, w.aboutBob.id)
  t.equal(aboutBob.description, null, "Alice's description is gone")
  t.equal(aboutBob.answer.note, 'I did not.')
  t.equal(aboutBob.resolution.note, null, "Alice's resolution note is gone")
  t.equal(aboutBob.erased, true)
  const listed = await i.allIncidents(bob, pid, aid)
  t.same(
    listed.map((x) => [x.description, x.erased]),
    [
      [texts.bobDescription, true],
      [null, true]
    ],
    'the list says the same'
  )
  const appreciations = await i.allAppreciations(bob, pid, aid)
  t.same(
    appreciations.map((a) => [a.authorId, a.text, a.erased]),
    [
      [alice.id, null, true],
      [bob.id, texts.bobAppreciation, false]
    ]
  )
  const review = await r.getReview(bob, pid, aid, w.review.id)
  t.same(
    review.responses.map((x: any) => [x.userId, x.note, x.erased]),
    [
      [alice.id, null, true],
      [bob.id, texts.bobNote, false],
      [carol.id, null, false]
    ],
    "Alice's review note is gone; Bob's stays; Carol wrote none (not erased)"
  )
  const declined = (await k.version(bob, pid, aid, w.v2.number)).body
  t.equal(declined.status, 'declined')
  t.equal(declined.declineReason, null)
  t.equal(declined.erased, true)
  // the others' agreements, signatures and verified chain
  const v1 = (await k.version(bob, pid, aid, 1)).body
  t.same(v1.signatures, signaturesBefore, 'every signature and receipt stays')
  t.equal((await k.agreement(bob, pid, aid)).body.status, 'active', 'three partners were two: the agreement stays')
  const verified = await k.verify(bob, pid)
  t.equal(verified.valid, true, 'the chain still verifies')
  t.ok(verified.eventCount > verifiedBefore.eventCount, 'the leave and its consequences were appended')
  t.equal((await k.verify(bob, w.second.pid)).valid, true, 'the dissolved partnership verifies too')
  const members = (await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/members`, token: bob.token }))
    .json()
    .items.map((m: any) => m.userId)
  t.notOk(members.includes(alice.id), 'she left')
  // the second partnership had only Alice and Bob: dissolved, its agreement ended
  const second = (await ctx.request({ method: 'GET', url: w.second.url, token: bob.token })).json()
  t.equal(second.status, 'dissolved')
  t.equal((await k.agreement(bob, w.second.pid, w.secondAid)).body.status, 'ended')
  // her draft was discarded, her webhook deleted, her invitation revoked, her feeds stopped
  t.equal(
    (await ctx.request({ method: 'GET', url: k.agreementUrl(pid, w.draft.id), token: bob.token })).statusCode,
    404
  )
  const hooks = (await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/webhooks`, token: bob.token })).json()
  t.same(hooks.items, [], 'her webhook is gone')
  const invitations = (
    await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/invitations`, token: bob.token })
  ).json()
  t.equal(invitations.items.find((x: any) => x.id === w.invitation.id)?.status, 'revoked')
  t.equal((await ctx.request({ method: 'GET', url: w.calendarUrl })).statusCode, 404, 'her feed stopped')
  const events = await k.eventsAfter(bob, pid, verifiedBefore.eventCount)
  t.ok(
    events.some((e) => e.type === 'webhook.deleted' && (e.data as any).reason === 'erased'),
    'webhook.deleted (erased)'
  )
  t.ok(
    events.some((e) => e.type === 'version.deleted' && (e.data as any).reason === 'erased'),
    'version.deleted'
  )
  t.ok(
    events.some((e) => e.type === 'member.left' && e.actorId === alice.id),
    'member.left'
  )
  const log = JSON.stringify(await k.eventsAfter(bob, pid, 0))
  for (const text of Object.values(texts)) t.notOk(log.includes(text), 'no event holds a text')
  t.notOk(log.includes('Alice'), 'no event holds her name')

  // the raw database: none of her words, her name or her identity; the others' words sealed too
  const dump = await rawDump()
  for (const text of Object.values(texts)) t.notOk(dump.includes(text), `not in the dump: ${text.split('-')[0]}…`)
  t.notOk(dump.includes(alice.sub), 'her token subject is not in the dump')
  t.notOk(/"Alice"|,Alice,|\(.*Alice/.test(dump), 'her name is not in the dump')
  const keys = await execute(ctx.deps.db, 'select user_id from data_keys where user_id = $1', [alice.id])
  t.same(keys, [], 'her data key is destroyed')
})

t.test('after erasure, her tokens are refused and a later login is a new person', async (t) => {
  const [alice, bob] = await Promise.all([k.person('Alice'), k.person('Bob')])
  const { pid } = await k.partnership(alice, [bob])
  const exported = await ctx.request({ method: 'GET', url: '/v1/me', token: alice.token })
  t.equal(exported.statusCode, 200)
  // an instance that knows her (it maps her identity to her id) and is not the one that erases her
  const seen = await buildTestApp(t, { database: ctx.database, clock: ctx.clock })
  t.equal((await seen.request({ method: 'GET', url: '/v1/me', token: alice.token })).statusCode, 200)
  t.equal((await erase(alice, exported.headers.etag as string)).statusCode, 204)
  // the same token, on this instance (which may still map it to her old id) and anywhere else
  isProblem(t, await me(alice), 401, 'account-erased')
  t.match((await me(alice)).headers['www-authenticate'], /^Bearer /)
  isProblem(t, await erase(alice, '*'), 401, 'account-erased')
  const again = await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}`, token: alice.token })
  isProblem(t, again, 401, 'account-erased', 'no partnership of hers is visible')
  isProblem(
    t,
    await ctx.request({
      method: 'POST',
      url: '/v1/partnerships',
      token: alice.token,
      body: { name: 'New', timezone: 'UTC' }
    }),
    401,
    'account-erased',
    'an old token cannot start anything new'
  )
  isProblem(
    t,
    await ctx.request({ method: 'POST', url: '/v1/me/calendar-tokens', token: alice.token }),
    401,
    'account-erased'
  )
  const carol = await k.person('Carol')
  const open = await k.partnership(bob, [carol])
  const invitation = await k.invite(bob, open.pid, 'partner')
  isProblem(
    t,
    await ctx.request({
      method: 'POST',
      url: '/v1/invitations/accept',
      token: alice.token,
      body: { token: invitation.token }
    }),
    401,
    'account-erased'
  )
  // a second instance that never saw her: the token was issued before the erasure
  const other = await buildTestApp(t, { database: ctx.database, clock: ctx.clock })
  isProblem(t, await other.request({ method: 'GET', url: '/v1/me', token: alice.token }), 401, 'account-erased')
  // later, a new token for the same account: a new, empty person
  ctx.clock.advance(2_000)
  const fresh = await other.token(alice.sub, { name: 'Alice' })
  const newMe = await other.request({ method: 'GET', url: '/v1/me', token: fresh })
  t.equal(newMe.statusCode, 200)
  t.not(newMe.json().id, alice.id, 'a new user id')
  const here = await ctx.request({ method: 'GET', url: '/v1/me', token: fresh })
  t.equal(here.json().id, newMe.json().id, 'the erasing instance forgot her old id at once')
  isProblem(t, await seen.request({ method: 'GET', url: '/v1/me', token: alice.token }), 401, 'account-erased')
  const there = await seen.request({ method: 'GET', url: '/v1/me', token: fresh })
  t.equal(there.json().id, newMe.json().id, 'one that knew her forgets her old id with its first refusal')
  const mine = (await other.request({ method: 'GET', url: '/v1/partnerships', token: fresh })).json()
  t.same(mine.items, [], 'with nothing of the erased person')
  // Her old token stays refused once the new account exists: not mapped to the new person on an instance that
  // knows the new account (its identity remembered), nor on one where the old token comes first.
  for (const [where, app] of [
    ['the instance that made the new account', other],
    ['the erasing instance', ctx],
    ['one that knew her', seen]
  ] as const) {
    isProblem(t, await app.request({ method: 'GET', url: '/v1/me', token: alice.token }), 401, 'account-erased', where)
    t.equal((await app.request({ method: 'GET', url: '/v1/me', token: fresh })).json().id, newMe.json().id, where)
  }
  const fourth = await buildTestApp(t, { database: ctx.database, clock: ctx.clock })
  isProblem(t, await fourth.request({ method: 'GET', url: '/v1/me', token: alice.token }), 401, 'account-erased')
  t.equal((await fourth.request({ method: 'GET', url: '/v1/me', token: fresh })).json().id, newMe.json().id)
  isProblem(t, await fourth.request({ method: 'GET', url: '/v1/me', token: alice.token }), 401, 'account-erased')
})

t.test('erasure needs profile:write and the current ETag, and can be retried safely', async (t) => {
  const alice = await k.person('Alice')
  const readOnly = await k.scoped(alice, 'partnerships:read')
  const etag = (await me(alice)).headers.etag as string
  isProblem(t, await erase(alice, etag, readOnly), 403, 'insufficient-scope')
  isProblem(
    t,
    await ctx.request({ method: 'DELETE', url: '/v1/me', headers: { 'if-match': etag } }),
    401,
    'token-required'
  )
  t.equal((await me(alice)).statusCode, 200, 'still there')
  const writer = await k.scoped(alice, 'profile:write')
  t.equal((await erase(alice, etag, writer)).statusCode, 204)
  isProblem(t, await erase(alice, etag, writer), 401, 'account-erased', 'a second erasure finds nobody')
})

t.test('texts written while the person is being erased are shredded with the rest', async (t) => {
  const [alice, bob, carol] = await Promise.all([k.person('Alice'), k.person('Bob'), k.person('Carol')])
  const { pid } = await k.partnership(alice, [bob, carol])
  const aid = await k.activeAgreement(alice, [bob, carol], pid, incidentTerms())
  const etag = (await me(carol)).headers.etag as string
  const written = Array.from({ length: 12 }, (_, n) => marked(`carol-${n}`))
  const [erased, ...posts] = await Promise.all([
    erase(carol, etag),
    ...written.map((text) => i.appreciate(carol, pid, aid, { text }))
  ])
  t.equal(erased.statusCode, 204)
  // each write either landed before the erasure (then it is shredded) or came after (then it was refused)
  for (const res of posts) t.ok([201, 401, 404].includes(res.statusCode), `a write during erasure: ${res.statusCode}`)
  const landed = posts.filter((res) => res.statusCode === 201).length
  const listed = (await i.allAppreciations(bob, pid, aid)).filter((a) => a.authorId === carol.id)
  t.equal(listed.length, landed, 'every write that landed is listed')
  t.ok(
    listed.every((a) => a.text === null && a.erased === true),
    'and reads null, erased'
  )
  const dump = await rawDump()
  for (const text of written) t.notOk(dump.includes(text), 'none is in the dump')
  t.same(
    await execute(ctx.deps.db, 'select 1 from data_keys where user_id = $1', [carol.id]),
    [],
    'no key was made again'
  )
})

t.test(
  'take your data, then be erased: the export holds your words, and then nothing answers that token',
  async (t) => {
    const [alice, bob] = await Promise.all([k.person('Alice'), k.person('Bob')])
    const { pid } = await k.partnership(alice, [bob])
    const aid = await k.activeAgreement(alice, [bob], pid, incidentTerms())
    const words = marked('alice-words')
    k.expectStatus(await i.appreciate(alice, pid, aid, { text: words }), 201, 'appreciate')
    const exported = await ctx.request({ method: 'GET', url: '/v1/me/export', token: alice.token })
    t.equal(exported.statusCode, 200)
    const doc = exported.json()
    t.equal(doc.user.id, alice.id)
    t.equal(doc.partnerships[0].agreements[0].appreciations[0].text, words, 'the export holds her words, opened')

    t.equal((await erase(alice, '*')).statusCode, 204)
    isProblem(t, await ctx.request({ method: 'GET', url: '/v1/me/export', token: alice.token }), 401, 'account-erased')
    // and Bob's export shows her words as erased
    const bobs = (await ctx.request({ method: 'GET', url: '/v1/me/export', token: bob.token })).json()
    const appreciation = bobs.partnerships[0].agreements[0].appreciations[0]
    t.same([appreciation.text, appreciation.erased], [null, true], "in Bob's export her words are erased")
    t.notOk(JSON.stringify(bobs).includes(words))
  }
)
