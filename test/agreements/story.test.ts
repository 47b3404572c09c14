import { compactVerify, createLocalJWKSet } from 'jose'
import t from 'tap'
import { jcsHash } from '../../src/lib/hash.ts'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem } from '../helpers/problems.ts'

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)

const content = (overrides: Record<string, unknown> = {}) => ({
  title: 'Phone transparency',
  category: 'transparency',
  clauses: [
    {
      key: 'no-hidden-chats',
      text: "We don't delete or hide conversations with people we've dated.",
      consequences: ['We talk it through within 48 hours, with our counselor if either asks.']
    }
  ],
  review: { rrule: 'FREQ=MONTHLY;BYDAY=1SU' },
  ...overrides
})

t.test('two partners carry an agreement from proposal to activation, revise it, and revoke consent', async (t) => {
  const [alice, bob] = [await k.person('Alice'), await k.person('Bob')]
  const { pid, agreements: base } = await k.partnership(alice, [bob])

  // Alice proposes: version 1, her proposal is her signature.
  const created = await ctx.request({ method: 'POST', url: base, token: alice.token, body: { content: content() } })
  t.equal(created.statusCode, 201, created.body)
  const a = created.json()
  t.match(a, {
    status: 'proposed',
    activeVersion: null,
    openProposal: 1,
    nextReviewAt: null,
    title: 'Phone transparency'
  })
  t.equal(a.proposal.signatures.length, 1)
  t.same(a.proposal.content.clauses[0].appliesTo, 'all', 'defaults filled in')
  t.equal(a.proposal.content.review.time, '19:00')
  t.equal(a.proposal.content.note, null)

  // Anyone can recompute the content hash from the GET.
  const v1 = (await ctx.request({ method: 'GET', url: `${base}/${a.id}/versions/1`, token: bob.token })).json()
  t.equal(
    jcsHash({ agreementId: a.id, number: 1, kind: 'terms', previousHash: null, content: v1.content }),
    v1.contentHash
  )

  // Bob must sign the text he was shown.
  const wrong = await ctx.request({
    method: 'POST',
    url: `${base}/${a.id}/versions/1/signatures`,
    token: bob.token,
    body: { contentHash: `sha256:${'0'.repeat(64)}` }
  })
  isProblem(t, wrong, 409, 'content-hash-mismatch', 'signing other text')
  const signed = await ctx.request({
    method: 'POST',
    url: `${base}/${a.id}/versions/1/signatures`,
    token: bob.token,
    body: { contentHash: v1.contentHash }
  })
  t.equal(signed.statusCode, 201, signed.body)
  t.match(signed.json(), { versionStatus: 'active', agreementStatus: 'active' })
  isProblem(
    t,
    await ctx.request({
      method: 'POST',
      url: `${base}/${a.id}/versions/1/signatures`,
      token: bob.token,
      body: { contentHash: v1.contentHash }
    }),
    409,
    'version-not-open',
    'signing an active version'
  )

  // Each receipt verifies against the JWKS.
  const jwks = createLocalJWKSet((await ctx.request({ method: 'GET', url: '/.well-known/jwks.json' })).json())
  const sigs = (
    await ctx.request({ method: 'GET', url: `${base}/${a.id}/versions/1/signatures`, token: alice.token })
  ).json().items
  t.equal(sigs.length, 2)
  for (const s of sigs) {
    const { payload, protectedHeader } = await compactVerify(s.receipt, jwks, { algorithms: ['EdDSA'] })
    t.equal(protectedHeader.alg, 'EdDSA')
    t.match(JSON.parse(new TextDecoder().decode(payload)), {
      agreementId: a.id,
      version: 1,
      contentHash: v1.contentHash,
      signerId: s.signerId,
      signedAt: s.signedAt
    })
  }

  const active = await ctx.request({ method: 'GET', url: `${base}/${a.id}`, token: alice.token })
  t.match(active.json(), { status: 'active', activeVersion: 1, openProposal: null })
  t.ok(new Date(active.json().nextReviewAt) > new Date(), 'a next review date')
  const etag = active.headers.etag as string

  // Bob proposes version 2; Alice counters with version 3; diff; Bob signs 3.
  const v2 = await ctx.request({
    method: 'POST',
    url: `${base}/${a.id}/versions`,
    token: bob.token,
    headers: { 'if-match': etag },
    body: {
      basedOn: 1,
      content: content({
        clauses: [...content().clauses, { key: 'shared-location', text: 'We share locations on evenings out.' }]
      })
    }
  })
  t.equal(v2.statusCode, 201, v2.body)
  t.equal(v2.json().previousHash, v1.contentHash)
  t.equal(
    (await ctx.request({ method: 'GET', url: `${base}/${a.id}`, token: alice.token })).json().status,
    'in_revision'
  )
  const stale = await ctx.request({
    method: 'POST',
    url: `${base}/${a.id}/versions`,
    token: alice.token,
    headers: { 'if-match': etag },
    body: { basedOn: 1, counterTo: 2, content: content() }
  })
  t.equal(stale.statusCode, 412)
  const etag2 = (await ctx.request({ method: 'GET', url: `${base}/${a.id}`, token: alice.token })).headers
    .etag as string
  const open = await ctx.request({
    method: 'POST',
    url: `${base}/${a.id}/versions`,
    token: alice.token,
    headers: { 'if-match': etag2 },
    body: { basedOn: 1, content: content() }
  })
  isProblem(t, open, 409, 'proposal-open', 'a second proposal while one is open')
  const v3 = await ctx.request({
    method: 'POST',
    url: `${base}/${a.id}/versions`,
    token: alice.token,
    headers: { 'if-match': etag2 },
    body: {
      basedOn: 2,
      counterTo: 2,
      content: content({
        review: { rrule: 'FREQ=WEEKLY', time: '20:00' },
        clauses: [
          { ...content().clauses[0], consequences: ['A calm talk the same evening.'] },
          { key: 'shared-location', text: 'We share locations when one of us asks.' }
        ]
      })
    }
  })
  t.equal(v3.statusCode, 201, v3.body)
  t.equal(
    (await ctx.request({ method: 'GET', url: `${base}/${a.id}/versions/2`, token: alice.token })).json().status,
    'superseded'
  )
  const diff = (
    await ctx.request({ method: 'GET', url: `${base}/${a.id}/versions/3/diff?against=1`, token: bob.token })
  ).json()
  t.match(diff.diff, {
    review: { rrule: { from: 'FREQ=MONTHLY;BYDAY=1SU', to: 'FREQ=WEEKLY' }, time: { from: '19:00', to: '20:00' } }
  })
  t.same(
    diff.diff.clauses.added.map((c: { key: string }) => c.key),
    ['shared-location']
  )
  t.match(diff.diff.clauses.changed, [
    { key: 'no-hidden-chats', consequences: { added: ['A calm talk the same evening.'] } }
  ])
  const s3 = await ctx.request({
    method: 'POST',
    url: `${base}/${a.id}/versions/3/signatures`,
    token: bob.token,
    body: { contentHash: v3.json().contentHash }
  })
  t.match(s3.json(), { versionStatus: 'active' })
  t.equal(
    (await ctx.request({ method: 'GET', url: `${base}/${a.id}/versions/1`, token: alice.token })).json().status,
    'superseded'
  )

  // Revoking consent on the active version suspends the agreement.
  t.equal(
    (await ctx.request({ method: 'DELETE', url: `${base}/${a.id}/versions/3/signatures/me`, token: alice.token }))
      .statusCode,
    204
  )
  t.match((await ctx.request({ method: 'GET', url: `${base}/${a.id}`, token: bob.token })).json(), {
    status: 'suspended',
    nextReviewAt: null
  })

  // Retirement, signed by both, ends it.
  const etag3 = (await ctx.request({ method: 'GET', url: `${base}/${a.id}`, token: alice.token })).headers
    .etag as string
  const r = await ctx.request({
    method: 'POST',
    url: `${base}/${a.id}/versions`,
    token: alice.token,
    headers: { 'if-match': etag3 },
    body: { basedOn: 3, kind: 'retirement', note: 'We no longer need it.' }
  })
  t.equal(r.statusCode, 201, r.body)
  await ctx.request({
    method: 'POST',
    url: `${base}/${a.id}/versions/4/signatures`,
    token: bob.token,
    body: { contentHash: r.json().contentHash }
  })
  t.match((await ctx.request({ method: 'GET', url: `${base}/${a.id}`, token: alice.token })).json(), {
    status: 'retired'
  })

  const types = (
    await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/events?limit=100`, token: alice.token })
  )
    .json()
    .items.map((e: { type: string }) => e.type)
  t.equal(types.filter((x: string) => x === 'version.activated').length, 3)
  t.ok(
    types.includes('agreement.suspended') && types.includes('agreement.retired') && types.includes('signature.revoked')
  )
  t.match(
    (await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/audit/verify`, token: alice.token })).json(),
    { valid: true }
  )
})
