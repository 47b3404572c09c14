import { randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { jcsHash } from '../../src/lib/hash.ts'
import { agreementKit, content } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isInvalid, isProblem, problemOf } from '../helpers/problems.ts'

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)

const sorted = (ids: string[]): string[] => [...ids].sort()

t.test('proposing needs at least two partners; a lone partner can still draft', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const { pid, agreements } = await k.partnership(alice)
  const before = await k.headSeq(alice, pid)

  const alone = await ctx.request({ method: 'POST', url: agreements, token: alice.token, body: { content: content() } })
  isProblem(t, alone, 409, 'not-enough-partners', 'a lone partner proposes')
  t.same(
    (await ctx.request({ method: 'GET', url: agreements, token: alice.token })).json().items,
    [],
    'no agreement was created'
  )
  t.equal(await k.headSeq(alice, pid), before, 'no event was appended')

  const drafted = await ctx.request({
    method: 'POST',
    url: agreements,
    token: alice.token,
    body: { content: content(), draft: true }
  })
  t.equal(drafted.statusCode, 201, drafted.body)
  const a = drafted.json()
  t.match(a, {
    status: 'draft',
    activeVersion: null,
    openProposal: null,
    nextReviewAt: null,
    proposal: null,
    active: null,
    createdBy: alice.id
  })
  t.match((await k.version(alice, pid, a.id, 1)).body, {
    status: 'draft',
    authorId: alice.id,
    requiredSigners: [],
    signatures: [],
    proposedAt: null
  })

  // Proposing that draft alone is refused as well, and changes nothing.
  const snap = await k.snapshot(alice, pid, a.id)
  isProblem(
    t,
    await ctx.request({ method: 'POST', url: `${k.versionUrl(pid, a.id, 1)}/propose`, token: alice.token }),
    409,
    'not-enough-partners',
    'a lone partner proposes a draft'
  )
  t.same(await k.snapshot(alice, pid, a.id), snap, 'nothing changed')

  // Once Bob joins, it can be proposed.
  await k.join(bob, pid, 'partner', alice)
  const proposed = await ctx.request({
    method: 'POST',
    url: `${k.versionUrl(pid, a.id, 1)}/propose`,
    token: alice.token
  })
  t.equal(proposed.statusCode, 200, proposed.body)
  t.same(sorted(proposed.json().requiredSigners), sorted([alice.id, bob.id]))
})

t.test('drafts: only the author edits, deletes or proposes them; a proposed version is immutable', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const { pid } = await k.partnership(alice, [bob])
  const a = await k.create(alice, pid, { content: content(), draft: true })
  const url = k.versionUrl(pid, a.id, 1)

  const draft = await k.version(bob, pid, a.id, 1)
  t.match(draft.body, { status: 'draft', authorId: alice.id, signatures: [] })
  t.equal(
    draft.body.contentHash,
    jcsHash({ agreementId: a.id, number: 1, kind: 'terms', previousHash: null, content: draft.body.content }),
    "a draft's hash is recomputable"
  )
  const edited = content({
    title: 'Phones, openly',
    clauses: [{ key: 'no-hidden-chats', text: 'No hidden chats, ever.' }]
  })

  const snap = await k.snapshot(alice, pid, a.id)
  isProblem(
    t,
    await ctx.request({ method: 'PATCH', url, token: alice.token, body: { content: edited } }),
    428,
    'precondition-required',
    'PATCH without If-Match'
  )
  isProblem(
    t,
    await ctx.request({
      method: 'PATCH',
      url,
      token: alice.token,
      headers: { 'if-match': '"v99"' },
      body: { content: edited }
    }),
    412,
    'precondition-failed',
    'PATCH with a stale If-Match'
  )
  isProblem(
    t,
    await ctx.request({
      method: 'PATCH',
      url,
      token: bob.token,
      headers: { 'if-match': draft.etag },
      body: { content: edited }
    }),
    403,
    'not-the-author',
    'another partner edits'
  )
  isProblem(
    t,
    await ctx.request({ method: 'DELETE', url, token: bob.token }),
    403,
    'not-the-author',
    'another partner deletes'
  )
  isProblem(
    t,
    await ctx.request({ method: 'POST', url: `${url}/propose`, token: bob.token }),
    403,
    'not-the-author',
    'another partner proposes'
  )
  // A draft is not signable, and not a proposal to close.
  isProblem(
    t,
    await ctx.request({
      method: 'POST',
      url: `${url}/signatures`,
      token: alice.token,
      body: { contentHash: draft.body.contentHash }
    }),
    409,
    'version-not-open',
    'the author signs a draft'
  )
  isProblem(
    t,
    await ctx.request({
      method: 'POST',
      url: `${url}/signatures`,
      token: bob.token,
      body: { contentHash: draft.body.contentHash }
    }),
    409,
    'version-not-open',
    'another partner signs a draft'
  )
  isProblem(
    t,
    await ctx.request({ method: 'POST', url: `${url}/decline`, token: bob.token, body: { reason: 'No.' } }),
    409,
    'version-not-open',
    'declining a draft'
  )
  isProblem(
    t,
    await ctx.request({ method: 'POST', url: `${url}/withdraw`, token: alice.token }),
    409,
    'version-not-open',
    'withdrawing a draft'
  )
  isProblem(
    t,
    await ctx.request({ method: 'DELETE', url: `${url}/signatures/me`, token: alice.token }),
    409,
    'not-signed',
    'revoking on a draft'
  )
  t.same(await k.snapshot(alice, pid, a.id), snap, 'the refused requests changed nothing')

  // The author edits: the hash follows the text.
  let patched!: LightMyRequestResponse
  t.same(
    await k.typesAppendedBy(alice, pid, async () => {
      patched = await ctx.request({
        method: 'PATCH',
        url,
        token: alice.token,
        headers: { 'if-match': draft.etag },
        body: { content: edited }
      })
    }),
    ['version.drafted'],
    'an edit appends version.drafted'
  )
  t.equal(patched.statusCode, 200, patched.body)
  const v = patched.json()
  t.equal(v.content.title, 'Phones, openly')
  t.not(v.contentHash, draft.body.contentHash, 'editing a draft changes its hash')
  t.equal(
    v.contentHash,
    jcsHash({ agreementId: a.id, number: 1, kind: 'terms', previousHash: null, content: v.content })
  )
  t.not(patched.headers.etag, draft.etag, 'and its ETag')
  t.equal((await k.version(alice, pid, a.id, 1)).etag, patched.headers.etag, 'GET shows the new ETag')
  isProblem(
    t,
    await ctx.request({
      method: 'PATCH',
      url,
      token: alice.token,
      headers: { 'if-match': draft.etag },
      body: { content: content() }
    }),
    412,
    'precondition-failed',
    'the old ETag is now stale'
  )
  t.equal(
    (await k.agreement(bob, pid, a.id)).body.title,
    'Phones, openly',
    "an agreement that is only a draft shows the draft's title"
  )

  // Proposing it: the open proposal, carrying the author's signature, with the same hash.
  let proposed!: LightMyRequestResponse
  t.same(
    await k.typesAppendedBy(alice, pid, async () => {
      proposed = await ctx.request({ method: 'POST', url: `${url}/propose`, token: alice.token })
    }),
    ['version.proposed', 'version.signed']
  )
  t.equal(proposed.statusCode, 200, proposed.body)
  t.match(proposed.json(), {
    status: 'proposed',
    contentHash: v.contentHash,
    signatures: [{ signerId: alice.id, contentHash: v.contentHash }]
  })
  t.equal(proposed.json().signatures.length, 1)
  t.same(sorted(proposed.json().requiredSigners), sorted([alice.id, bob.id]))
  t.match((await k.agreement(bob, pid, a.id)).body, {
    status: 'proposed',
    openProposal: 1,
    title: 'Phones, openly',
    proposal: { number: 1, status: 'proposed' }
  })

  // A proposed version never changes.
  const current = await k.version(alice, pid, a.id, 1)
  const snap2 = await k.snapshot(alice, pid, a.id)
  isProblem(
    t,
    await ctx.request({
      method: 'PATCH',
      url,
      token: alice.token,
      headers: { 'if-match': current.etag },
      body: { content: content() }
    }),
    409,
    'version-not-draft',
    'PATCH a proposed version'
  )
  isProblem(
    t,
    await ctx.request({ method: 'DELETE', url, token: alice.token }),
    409,
    'version-not-draft',
    'DELETE a proposed version'
  )
  isProblem(
    t,
    await ctx.request({ method: 'POST', url: `${url}/propose`, token: alice.token }),
    409,
    'version-not-draft',
    'propose it again'
  )
  t.same(await k.snapshot(alice, pid, a.id), snap2, 'nothing changed')

  t.equal((await k.sign(bob, pid, a.id, 1)).statusCode, 201)
  const after = await k.version(alice, pid, a.id, 1)
  t.equal(after.body.status, 'active')
  t.equal(after.body.contentHash, v.contentHash, 'the hash stays stable once proposed')
})

t.test('deleting a draft: the only one takes its agreement along; a later one does not', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const { pid, agreements } = await k.partnership(alice, [bob])
  const a = await k.create(alice, pid, { content: content(), draft: true })

  let deleted!: LightMyRequestResponse
  t.same(
    await k.typesAppendedBy(alice, pid, async () => {
      deleted = await ctx.request({ method: 'DELETE', url: k.versionUrl(pid, a.id, 1), token: alice.token })
    }),
    ['version.deleted']
  )
  t.equal(deleted.statusCode, 204)
  isProblem(
    t,
    await ctx.request({ method: 'GET', url: k.agreementUrl(pid, a.id), token: alice.token }),
    404,
    'not-found',
    'the agreement is gone'
  )
  isProblem(
    t,
    await ctx.request({ method: 'GET', url: k.versionUrl(pid, a.id, 1), token: alice.token }),
    404,
    'not-found',
    'its version too'
  )
  t.notOk(
    (await ctx.request({ method: 'GET', url: agreements, token: alice.token }))
      .json()
      .items.some((x: { id: string }) => x.id === a.id),
    'and it is not listed'
  )

  // A draft of a later version goes alone.
  const aid = await k.activeAgreement(alice, [bob], pid)
  let drafted!: LightMyRequestResponse
  t.same(
    await k.typesAppendedBy(alice, pid, async () => {
      drafted = await k.proposeVersion(alice, pid, aid, {
        basedOn: 1,
        content: content({ title: 'Revised' }),
        draft: true
      })
    }),
    ['version.drafted']
  )
  t.equal(drafted.statusCode, 201, drafted.body)
  t.match(drafted.json(), { number: 2, status: 'draft', basedOn: 1, signatures: [] })
  t.match(
    (await k.agreement(alice, pid, aid)).body,
    { status: 'active', activeVersion: 1, openProposal: null },
    'a draft is not a proposal'
  )
  t.equal((await ctx.request({ method: 'DELETE', url: k.versionUrl(pid, aid, 2), token: alice.token })).statusCode, 204)
  t.match((await k.agreement(alice, pid, aid)).body, { status: 'active', activeVersion: 1 }, 'the agreement stays')
  isProblem(
    t,
    await ctx.request({ method: 'GET', url: k.versionUrl(pid, aid, 2), token: alice.token }),
    404,
    'not-found',
    'the draft is gone'
  )
})

t.test('decline and withdraw close a proposal', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const { pid } = await k.partnership(alice, [bob])
  const a = await k.create(alice, pid)
  const url = k.versionUrl(pid, a.id, 1)

  const snap = await k.snapshot(alice, pid, a.id)
  isInvalid(
    t,
    await ctx.request({ method: 'POST', url: `${url}/decline`, token: bob.token, body: {} }),
    '/reason',
    'decline without a reason'
  )
  isInvalid(
    t,
    await ctx.request({ method: 'POST', url: `${url}/decline`, token: bob.token, body: { reason: '   ' } }),
    '/reason',
    'decline with a blank reason'
  )
  isInvalid(
    t,
    await ctx.request({ method: 'POST', url: `${url}/decline`, token: bob.token, body: { reason: 'x'.repeat(2001) } }),
    '/reason',
    'decline with a 2001-char reason'
  )
  isProblem(
    t,
    await ctx.request({ method: 'POST', url: `${url}/withdraw`, token: bob.token }),
    403,
    'not-the-author',
    'another partner withdraws'
  )
  t.same(await k.snapshot(alice, pid, a.id), snap, 'nothing changed')

  let declined!: LightMyRequestResponse
  t.same(
    await k.typesAppendedBy(alice, pid, async () => {
      declined = await ctx.request({
        method: 'POST',
        url: `${url}/decline`,
        token: bob.token,
        body: { reason: 'Not before we talk to our counselor.' }
      })
    }),
    ['version.declined']
  )
  t.equal(declined.statusCode, 200, declined.body)
  t.match(declined.json(), { status: 'declined', declineReason: 'Not before we talk to our counselor.' })
  t.ok(declined.json().closedAt, 'closedAt is set')
  t.match((await k.agreement(alice, pid, a.id)).body, { openProposal: null, proposal: null, activeVersion: null })

  const snap2 = await k.snapshot(alice, pid, a.id)
  isProblem(t, await k.sign(bob, pid, a.id, 1), 409, 'version-not-open', 'signing a declined version')
  isProblem(
    t,
    await ctx.request({ method: 'POST', url: `${url}/decline`, token: bob.token, body: { reason: 'again' } }),
    409,
    'version-not-open',
    'declining it again'
  )
  isProblem(
    t,
    await ctx.request({ method: 'POST', url: `${url}/withdraw`, token: alice.token }),
    409,
    'version-not-open',
    'withdrawing a declined version'
  )
  t.same(await k.snapshot(alice, pid, a.id), snap2, 'nothing changed')

  // Withdraw: the author only.
  const v2 = await k.proposeVersion(alice, pid, a.id, { basedOn: 1, content: content({ title: 'Second try' }) })
  t.equal(v2.statusCode, 201, v2.body)
  const url2 = k.versionUrl(pid, a.id, 2)
  const snap3 = await k.snapshot(alice, pid, a.id)
  isProblem(
    t,
    await ctx.request({ method: 'POST', url: `${url2}/withdraw`, token: bob.token }),
    403,
    'not-the-author',
    'another partner withdraws'
  )
  t.same(await k.snapshot(alice, pid, a.id), snap3, 'nothing changed')
  let withdrawn!: LightMyRequestResponse
  t.same(
    await k.typesAppendedBy(alice, pid, async () => {
      withdrawn = await ctx.request({ method: 'POST', url: `${url2}/withdraw`, token: alice.token })
    }),
    ['version.withdrawn']
  )
  t.equal(withdrawn.statusCode, 200, withdrawn.body)
  t.match(withdrawn.json(), { status: 'withdrawn', declineReason: null })
  t.match((await k.agreement(alice, pid, a.id)).body, { openProposal: null, proposal: null })
  const snap4 = await k.snapshot(alice, pid, a.id)
  isProblem(t, await k.sign(bob, pid, a.id, 2), 409, 'version-not-open', 'signing a withdrawn version')
  t.same(await k.snapshot(alice, pid, a.id), snap4, 'nothing changed')
})

t.test('revoking a signature on a proposed version', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const { pid } = await k.partnership(alice, [bob])
  const a = await k.create(alice, pid)
  const url = k.versionUrl(pid, a.id, 1)

  const snap = await k.snapshot(alice, pid, a.id)
  isProblem(
    t,
    await ctx.request({ method: 'DELETE', url: `${url}/signatures/me`, token: bob.token }),
    409,
    'not-signed',
    'revoking without a signature'
  )
  t.same(await k.snapshot(alice, pid, a.id), snap, 'nothing changed')

  let revoked!: LightMyRequestResponse
  t.same(
    await k.typesAppendedBy(alice, pid, async () => {
      revoked = await ctx.request({ method: 'DELETE', url: `${url}/signatures/me`, token: alice.token })
    }),
    ['signature.revoked']
  )
  t.equal(revoked.statusCode, 204)
  const v = (await k.version(alice, pid, a.id, 1)).body
  t.match(v, { status: 'proposed', signatures: [] }, 'the signature is gone from the version')
  const all = (await ctx.request({ method: 'GET', url: `${url}/signatures`, token: bob.token })).json().items
  t.equal(all.length, 1, 'GET …/signatures still lists it')
  t.match(all[0], { signerId: alice.id, contentHash: v.contentHash })
  t.ok(all[0].revokedAt, 'with revokedAt')
  t.match(
    (await k.agreement(alice, pid, a.id)).body,
    { status: 'proposed', openProposal: 1 },
    'the proposal stays open'
  )
  isProblem(
    t,
    await ctx.request({ method: 'DELETE', url: `${url}/signatures/me`, token: alice.token }),
    409,
    'not-signed',
    'revoking twice'
  )

  // Bob's signature alone does not activate it: Alice's consent is gone.
  const bobSigned = await k.sign(bob, pid, a.id, 1)
  t.equal(bobSigned.statusCode, 201, bobSigned.body)
  t.match(bobSigned.json(), { versionStatus: 'proposed' })
  // Alice may sign again.
  const again = await k.sign(alice, pid, a.id, 1)
  t.equal(again.statusCode, 201, again.body)
  t.match(again.json(), { versionStatus: 'active', agreementStatus: 'active' })
  const sigs = (await ctx.request({ method: 'GET', url: `${url}/signatures`, token: bob.token })).json().items
  t.equal(sigs.length, 3, 'the revoked signature and two live ones')
  t.equal(sigs.filter((s: { revokedAt: string | null }) => s.revokedAt === null).length, 2)
  t.equal((await k.version(alice, pid, a.id, 1)).body.signatures.length, 2)
})

t.test('one open proposal at a time, and the rules of POST …/versions', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const { pid } = await k.partnership(alice, [bob])
  const a = await k.create(alice, pid)
  const versions = `${k.agreementUrl(pid, a.id)}/versions`
  const post = (who: typeof alice, etag: string | undefined, body: Record<string, unknown>) =>
    ctx.request({
      method: 'POST',
      url: versions,
      token: who.token,
      headers: etag === undefined ? {} : { 'if-match': etag },
      body
    })

  // Nothing to retire before the agreement was ever active.
  const early = await k.agreement(alice, pid, a.id)
  let snap = await k.snapshot(alice, pid, a.id)
  isProblem(
    t,
    await post(alice, early.etag, { basedOn: 1, kind: 'retirement', note: 'Never mind.' }),
    409,
    'nothing-to-retire',
    'retiring a never-active agreement'
  )
  isProblem(
    t,
    await post(bob, early.etag, { basedOn: 1, content: content() }),
    409,
    'proposal-open',
    'a second proposal while v1 is open'
  )
  t.same(await k.snapshot(alice, pid, a.id), snap, 'nothing changed')

  t.match((await k.sign(bob, pid, a.id, 1)).json(), { versionStatus: 'active' })
  const { etag } = await k.agreement(alice, pid, a.id)
  t.not(etag, early.etag, "activation changed the agreement's ETag")

  snap = await k.snapshot(alice, pid, a.id)
  isProblem(
    t,
    await post(bob, undefined, { basedOn: 1, content: content() }),
    428,
    'precondition-required',
    'without If-Match'
  )
  isProblem(
    t,
    await post(bob, early.etag, { basedOn: 1, content: content() }),
    412,
    'precondition-failed',
    'with a stale If-Match'
  )
  isInvalid(
    t,
    await post(bob, etag, { basedOn: 9, content: content() }),
    '/basedOn',
    'basedOn a version that does not exist'
  )
  isInvalid(
    t,
    await post(bob, etag, { basedOn: 1, kind: 'retirement', content: content() }),
    '/content',
    'a retirement with content'
  )
  isInvalid(t, await post(bob, etag, { basedOn: 1 }), '/content', 'terms without content')
  isInvalid(
    t,
    await post(bob, etag, { basedOn: 1, kind: 'terms', content: content(), note: 'x' }),
    '/note',
    'terms with a top-level note'
  )
  isInvalid(t, await post(bob, etag, { basedOn: 1, kind: 'retirement', draft: true }), '/draft', 'a retirement draft')
  isInvalid(t, await post(bob, etag, { basedOn: 0, content: content() }), '/basedOn', 'basedOn 0')
  isProblem(
    t,
    await post(bob, etag, { basedOn: 1, counterTo: 1, content: content() }),
    409,
    'version-not-open',
    'counterTo with no open proposal'
  )
  t.same(await k.snapshot(alice, pid, a.id), snap, 'nothing changed')

  // Bob proposes version 2: the agreement is in revision.
  const v2 = await post(bob, etag, { basedOn: 1, content: content({ title: 'Two' }) })
  t.equal(v2.statusCode, 201, v2.body)
  t.match(v2.json(), {
    number: 2,
    status: 'proposed',
    basedOn: 1,
    previousHash: (await k.version(alice, pid, a.id, 1)).body.contentHash
  })
  t.ok(String(v2.headers.location).endsWith('/versions/2'))
  const current = await k.agreement(alice, pid, a.id)
  t.match(current.body, { status: 'in_revision', activeVersion: 1, openProposal: 2 })

  snap = await k.snapshot(alice, pid, a.id)
  isProblem(
    t,
    await post(alice, current.etag, { basedOn: 1, content: content() }),
    409,
    'proposal-open',
    'a second proposal without counterTo'
  )
  isProblem(
    t,
    await post(alice, current.etag, { basedOn: 1, counterTo: 1, content: content() }),
    409,
    'version-not-open',
    'counterTo the active version'
  )
  isProblem(
    t,
    await post(alice, current.etag, { basedOn: 1, counterTo: 7, content: content() }),
    409,
    'version-not-open',
    'counterTo a version that does not exist'
  )
  t.same(await k.snapshot(alice, pid, a.id), snap, 'nothing changed')

  // Alice counters: version 2 is superseded in the same step.
  let v3!: LightMyRequestResponse
  t.same(
    await k.typesAppendedBy(alice, pid, async () => {
      v3 = await post(alice, current.etag, { basedOn: 2, counterTo: 2, content: content({ title: 'Three' }) })
    }),
    ['version.superseded', 'version.proposed', 'version.signed']
  )
  t.equal(v3.statusCode, 201, v3.body)
  t.match(v3.json(), { number: 3, status: 'proposed', basedOn: 2 })
  t.match((await k.version(alice, pid, a.id, 2)).body, { status: 'superseded' })
  t.match((await k.agreement(alice, pid, a.id)).body, { openProposal: 3 })

  // Bob withdraws nothing of Alice's; Alice withdraws her counter; then a retirement.
  t.equal(
    (await ctx.request({ method: 'POST', url: `${k.versionUrl(pid, a.id, 3)}/withdraw`, token: alice.token }))
      .statusCode,
    200
  )
  const r = await k.proposeVersion(alice, pid, a.id, { basedOn: 1, kind: 'retirement', note: 'We outgrew it.' })
  t.equal(r.statusCode, 201, r.body)
  t.match(r.json(), { number: 4, kind: 'retirement', status: 'proposed', content: { note: 'We outgrew it.' } })
  t.same(
    await k.typesAppendedBy(alice, pid, async () => {
      t.match((await k.sign(bob, pid, a.id, 4)).json(), { versionStatus: 'active', agreementStatus: 'retired' })
    }),
    ['version.signed', 'version.superseded', 'version.activated', 'agreement.retired']
  )
  const retired = await k.agreement(alice, pid, a.id)
  t.match(retired.body, { status: 'retired', activeVersion: 4, openProposal: null, nextReviewAt: null })
  t.match((await k.version(alice, pid, a.id, 1)).body, { status: 'superseded' })

  snap = await k.snapshot(alice, pid, a.id)
  isProblem(
    t,
    await post(alice, retired.etag, { basedOn: 4, content: content() }),
    409,
    'agreement-closed',
    'a proposal on a retired agreement'
  )
  isProblem(
    t,
    await post(bob, retired.etag, { basedOn: 4, content: content(), draft: true }),
    409,
    'agreement-closed',
    'a draft on a retired agreement'
  )
  isProblem(
    t,
    await post(bob, retired.etag, { basedOn: 4, kind: 'retirement' }),
    409,
    'agreement-closed',
    'retiring it again'
  )
  t.same(await k.snapshot(alice, pid, a.id), snap, 'nothing changed')
})

t.test('three partners: activation only when all three have signed', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const carol = await k.person('Carol')
  const { pid } = await k.partnership(alice, [bob, carol])
  const a = await k.create(alice, pid)
  t.same(
    sorted(a.proposal.requiredSigners),
    sorted([alice.id, bob.id, carol.id]),
    'the required signers are the three partners'
  )

  const bobSigned = await k.sign(bob, pid, a.id, 1)
  t.equal(bobSigned.statusCode, 201, bobSigned.body)
  t.match(bobSigned.json(), { versionStatus: 'proposed', agreementStatus: 'proposed' })
  t.match((await k.agreement(alice, pid, a.id)).body, { status: 'proposed', activeVersion: null, openProposal: 1 })
  isProblem(t, await k.sign(bob, pid, a.id, 1), 409, 'already-signed', 'a second signature by the same partner')

  let carolSigned!: LightMyRequestResponse
  t.same(
    await k.typesAppendedBy(alice, pid, async () => {
      carolSigned = await k.sign(carol, pid, a.id, 1)
    }),
    ['version.signed', 'version.activated']
  )
  t.match(carolSigned.json(), { versionStatus: 'active', agreementStatus: 'active' })
  const v = (await k.version(alice, pid, a.id, 1)).body
  t.same(sorted(v.signatures.map((s: { signerId: string }) => s.signerId)), sorted([alice.id, bob.id, carol.id]))
  t.ok(v.activatedAt)

  // The last two signing at the same instant activate it exactly once.
  const b = await k.create(alice, pid, { content: content({ title: 'Concurrent' }) })
  const hash = b.proposal.contentHash
  const both = await Promise.all(
    [bob, carol].map((p) =>
      ctx.request({
        method: 'POST',
        url: `${k.versionUrl(pid, b.id, 1)}/signatures`,
        token: p.token,
        body: { contentHash: hash }
      })
    )
  )
  t.same(
    both.map((r) => r.statusCode),
    [201, 201],
    both.map((r) => r.body).join('\n')
  )
  t.same(both.map((r) => r.json().versionStatus).sort(), ['active', 'proposed'])
  const activations = (await k.eventsAfter(alice, pid, 0)).filter(
    (e) => e.type === 'version.activated' && e.data.agreementId === b.id
  )
  t.equal(activations.length, 1, 'activated exactly once')
})

t.test('listing filters by status and category, and pages through everything', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const { pid, agreements } = await k.partnership(alice, [bob])

  const active = await k.activeAgreement(alice, [bob], pid, content({ title: 'Active', category: 'communication' }))
  const proposed = (await k.create(alice, pid, { content: content({ title: 'Proposed', category: 'finances' }) })).id
  const inRevision = await k.activeAgreement(alice, [bob], pid, content({ title: 'In revision', category: 'time' }))
  t.equal(
    (
      await k.proposeVersion(bob, pid, inRevision, {
        basedOn: 1,
        content: content({ title: 'In revision', category: 'time' })
      })
    ).statusCode,
    201
  )
  const suspended = await k.activeAgreement(alice, [bob], pid, content({ title: 'Suspended', category: 'digital' }))
  t.equal(
    (await ctx.request({ method: 'DELETE', url: `${k.versionUrl(pid, suspended, 1)}/signatures/me`, token: bob.token }))
      .statusCode,
    204
  )
  const retired = await k.activeAgreement(alice, [bob], pid, content({ title: 'Retired', category: 'health' }))
  t.equal((await k.proposeVersion(alice, pid, retired, { basedOn: 1, kind: 'retirement' })).statusCode, 201)
  t.equal((await k.sign(bob, pid, retired, 2)).statusCode, 201)
  const draft = (
    await k.create(alice, pid, { content: content({ title: 'Draft', category: 'finances' }), draft: true })
  ).id

  const ids = async (query: string): Promise<string[]> => {
    const res = await ctx.request({ method: 'GET', url: `${agreements}?${query}`, token: bob.token })
    t.equal(res.statusCode, 200, res.body)
    return sorted(res.json().items.map((x: { id: string }) => x.id))
  }
  const expected: Record<string, string[]> = {
    active: [active],
    proposed: [proposed],
    in_revision: [inRevision],
    suspended: [suspended],
    retired: [retired],
    draft: [draft],
    ended: []
  }
  for (const [status, want] of Object.entries(expected)) {
    t.same(await ids(`status=${status}`), sorted(want), `status=${status}`)
    for (const id of want) t.equal((await k.agreement(bob, pid, id)).body.status, status, `GET shows ${status}`)
  }
  t.same(await ids('category=finances'), sorted([proposed, draft]), 'category=finances')
  t.same(await ids('category=communication'), [active], 'category=communication')
  t.same(await ids('category=other'), [], 'category=other')
  t.same(await ids('status=proposed&category=finances'), [proposed], 'both filters')
  t.same(await ids('limit=100'), sorted([active, proposed, inRevision, suspended, retired, draft]), 'no filter')

  // limit=2 walks every agreement once.
  const seen: string[] = []
  let url = `${agreements}?limit=2`
  let pages = 0
  for (;;) {
    const page = (await ctx.request({ method: 'GET', url, token: alice.token })).json()
    pages++
    t.ok(page.items.length <= 2)
    seen.push(...page.items.map((x: { id: string }) => x.id))
    if (page.nextCursor === null) break
    url = `${agreements}?limit=2&cursor=${encodeURIComponent(page.nextCursor)}`
    if (pages > 10) break
  }
  t.equal(pages, 3)
  t.same(sorted(seen), sorted([active, proposed, inRevision, suspended, retired, draft]))
  t.equal(new Set(seen).size, seen.length, 'no duplicates')

  isInvalid(
    t,
    await ctx.request({ method: 'GET', url: `${agreements}?status=open`, token: alice.token }),
    '/status',
    'an unknown status'
  )
  isInvalid(
    t,
    await ctx.request({ method: 'GET', url: `${agreements}?category=romance`, token: alice.token }),
    '/category',
    'an unknown category'
  )
  isInvalid(
    t,
    await ctx.request({ method: 'GET', url: `${agreements}?limit=0`, token: alice.token }),
    '/limit',
    'limit 0'
  )
  isInvalid(
    t,
    await ctx.request({ method: 'GET', url: `${agreements}?limit=101`, token: alice.token }),
    '/limit',
    'limit 101'
  )
  isProblem(
    t,
    await ctx.request({ method: 'GET', url: `${agreements}?cursor=nope`, token: alice.token }),
    400,
    'invalid-cursor',
    'a forged cursor'
  )
})

t.test('a sign-off retried with the same Idempotency-Key is done once', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const { pid } = await k.partnership(alice, [bob])
  const a = await k.create(alice, pid)
  const url = `${k.versionUrl(pid, a.id, 1)}/signatures`
  const before = await k.headSeq(alice, pid)
  const key = randomUUID()
  const hash = a.proposal.contentHash

  const first = await ctx.request({
    method: 'POST',
    url,
    token: bob.token,
    headers: { 'idempotency-key': key },
    body: { contentHash: hash }
  })
  t.equal(first.statusCode, 201, first.body)
  const second = await ctx.request({
    method: 'POST',
    url,
    token: bob.token,
    headers: { 'idempotency-key': key },
    body: { contentHash: hash }
  })
  t.equal(second.statusCode, 201)
  t.equal(second.body, first.body, 'the same receipt, byte for byte')
  t.equal(second.headers['idempotent-replayed'], 'true')
  t.equal(second.headers.location, first.headers.location)
  t.equal(first.headers.location, `${url}/${bob.id}`, 'Location names the signature')
  const located = await ctx.request({ method: 'GET', url: String(first.headers.location), token: alice.token })
  t.equal(located.statusCode, 200)
  const { versionStatus: _v, agreementStatus: _a, ...signature } = first.json()
  t.strictSame(located.json(), signature, 'GET Location is the signature, receipt included')
  isProblem(
    t,
    await ctx.request({ method: 'GET', url: `${url}/${randomUUID()}`, token: alice.token }),
    404,
    'not-found',
    'someone who did not sign'
  )
  const stranger = await k.person('Stranger')
  isProblem(
    t,
    await ctx.request({ method: 'GET', url: String(first.headers.location), token: stranger.token }),
    404,
    'not-found',
    'a stranger'
  )

  const sigs = (await ctx.request({ method: 'GET', url, token: alice.token })).json().items
  t.equal(sigs.filter((s: { signerId: string }) => s.signerId === bob.id).length, 1, 'one signature by Bob')
  const types = (await k.eventsAfter(alice, pid, before)).map((e) => e.type)
  t.same(types, ['version.signed', 'version.activated'], 'one version.signed event, one activation')

  const snap = await k.snapshot(alice, pid, a.id)
  const other = await ctx.request({
    method: 'POST',
    url,
    token: bob.token,
    headers: { 'idempotency-key': key },
    body: { contentHash: `sha256:${'0'.repeat(64)}` }
  })
  isProblem(t, other, 422, 'idempotency-key-reused', 'the same key with another contentHash')
  t.same(await k.snapshot(alice, pid, a.id), snap, 'nothing changed')
})

t.test('every action appends its events, and the chain stays valid', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const carol = await k.person('Carol')
  const { pid } = await k.partnership(alice, [bob])
  const start = await k.headSeq(alice, pid)
  const step = async (
    action: () => Promise<LightMyRequestResponse | undefined>,
    expected: string[],
    what: string
  ): Promise<void> => {
    const out: { res?: LightMyRequestResponse } = {}
    const types = await k.typesAppendedBy(alice, pid, async () => {
      out.res = (await action()) ?? undefined
    })
    if (out.res && out.res.statusCode >= 300) t.fail(`${what}: ${out.res.statusCode} ${out.res.body}`)
    t.same(types, expected, what)
  }
  let aid = ''
  const v = (n: number) => k.versionUrl(pid, aid, n)

  await step(
    async () => {
      const res = await ctx.request({
        method: 'POST',
        url: k.agreementsUrl(pid),
        token: alice.token,
        body: { content: content(), draft: true }
      })
      aid = res.json().id
      return res
    },
    ['agreement.created', 'version.drafted'],
    'create a draft'
  )
  const draftEtag = (await k.version(alice, pid, aid, 1)).etag
  await step(
    () =>
      ctx.request({
        method: 'PATCH',
        url: v(1),
        token: alice.token,
        headers: { 'if-match': draftEtag },
        body: { content: content({ title: 'Edited' }) }
      }),
    ['version.drafted'],
    'edit the draft'
  )
  await step(
    () => ctx.request({ method: 'POST', url: `${v(1)}/propose`, token: alice.token }),
    ['version.proposed', 'version.signed'],
    'propose the draft'
  )
  await step(() => k.sign(bob, pid, aid, 1), ['version.signed', 'version.activated'], 'the last signature activates')
  await step(
    () => k.proposeVersion(bob, pid, aid, { basedOn: 1, content: content({ title: 'Two' }), draft: true }),
    ['version.drafted'],
    'draft version 2'
  )
  await step(
    () => ctx.request({ method: 'DELETE', url: v(2), token: bob.token }),
    ['version.deleted'],
    'delete draft 2'
  )
  await step(
    () => k.proposeVersion(bob, pid, aid, { basedOn: 1, content: content({ title: 'Three' }) }),
    ['version.proposed', 'version.signed'],
    'propose version 3'
  )
  await step(
    () => ctx.request({ method: 'POST', url: `${v(3)}/decline`, token: alice.token, body: { reason: 'No.' } }),
    ['version.declined'],
    'decline 3'
  )
  await step(
    () => k.proposeVersion(bob, pid, aid, { basedOn: 1, content: content({ title: 'Four' }) }),
    ['version.proposed', 'version.signed'],
    'propose version 4'
  )
  await step(
    () => ctx.request({ method: 'POST', url: `${v(4)}/withdraw`, token: bob.token }),
    ['version.withdrawn'],
    'withdraw 4'
  )
  await step(
    () => k.proposeVersion(bob, pid, aid, { basedOn: 1, content: content({ title: 'Five' }) }),
    ['version.proposed', 'version.signed'],
    'propose version 5'
  )
  await step(
    () => k.proposeVersion(alice, pid, aid, { basedOn: 5, counterTo: 5, content: content({ title: 'Six' }) }),
    ['version.superseded', 'version.proposed', 'version.signed'],
    'counter with version 6'
  )
  await step(
    () => ctx.request({ method: 'DELETE', url: `${v(6)}/signatures/me`, token: alice.token }),
    ['signature.revoked'],
    'revoke on a proposal'
  )
  await step(() => k.sign(alice, pid, aid, 6), ['version.signed'], 'sign it again')
  await step(
    () => k.sign(bob, pid, aid, 6),
    ['version.signed', 'version.superseded', 'version.activated'],
    'activate 6 over 1'
  )
  await step(
    () => k.proposeVersion(alice, pid, aid, { basedOn: 6, content: content({ title: 'Seven' }) }),
    ['version.proposed', 'version.signed'],
    'propose version 7'
  )
  await step(
    () => k.join(carol, pid, 'partner', alice),
    ['invitation.created', 'member.joined', 'version.voided'],
    'a partner joins'
  )
  await step(
    () => ctx.request({ method: 'DELETE', url: `${v(6)}/signatures/me`, token: bob.token }),
    ['signature.revoked', 'agreement.suspended'],
    'revoke on the active version'
  )
  await step(
    () => ctx.request({ method: 'DELETE', url: `${v(6)}/signatures/me`, token: alice.token }),
    ['signature.revoked'],
    'a second revocation: already suspended'
  )
  await step(
    () => k.proposeVersion(alice, pid, aid, { basedOn: 6, kind: 'retirement', note: 'Done.' }),
    ['version.proposed', 'version.signed'],
    'propose retirement 8'
  )
  await step(() => k.sign(bob, pid, aid, 8), ['version.signed'], 'Bob signs the retirement')
  await step(
    () => k.sign(carol, pid, aid, 8),
    ['version.signed', 'version.superseded', 'version.activated', 'agreement.retired'],
    'the retirement activates'
  )
  t.match((await k.agreement(alice, pid, aid)).body, { status: 'retired', activeVersion: 8 })

  const events = await k.eventsAfter(alice, pid, start)
  const types = new Set(events.map((e) => e.type))
  for (const type of [
    'agreement.created',
    'version.proposed',
    'version.signed',
    'version.activated',
    'version.superseded',
    'version.declined',
    'version.withdrawn',
    'version.voided',
    'signature.revoked',
    'agreement.suspended',
    'agreement.retired',
    'version.drafted',
    'version.deleted'
  ]) {
    t.ok(types.has(type), `${type} was appended`)
  }
  const activated = events.filter((e) => e.type === 'version.activated').map((e) => e.data.number)
  t.same(activated, [1, 6, 8], 'version.activated exactly once per activated version')
  const seqs = events.map((e) => e.seq)
  t.same(
    seqs,
    seqs.map((_, i) => start + 1 + i),
    'seq is gapless'
  )
  t.match(await k.verify(alice, pid), { valid: true, firstBrokenSeq: null })
})

t.test('content validation: every limit of SPEC §3.2 is a 400 naming the field', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const outsider = await k.person('Outsider')
  const { pid, agreements } = await k.partnership(alice, [bob])
  const before = await k.headSeq(alice, pid)
  const clause = (c: Record<string, unknown>) => ({ clauses: [{ key: 'a-clause', text: 'Some text.', ...c }] })
  const withReview = (r: Record<string, unknown>) => ({ review: { rrule: 'FREQ=MONTHLY', ...r } })
  const without = (field: string) => {
    const c = content()
    delete c[field]
    return c
  }

  const cases: Array<[string, unknown, string]> = [
    ['missing title', without('title'), '/content/title'],
    ['blank title', content({ title: '  ' }), '/content/title'],
    ['unknown category', content({ category: 'romance' }), '/content/category'],
    ['0 clauses', content({ clauses: [] }), '/content/clauses'],
    [
      '51 clauses',
      content({ clauses: Array.from({ length: 51 }, (_, i) => ({ key: `c${i}`, text: 'x' })) }),
      '/content/clauses'
    ],
    ['uppercase key', content(clause({ key: 'No-Hidden' })), '/content/clauses/0/key'],
    ['leading dash key', content(clause({ key: '-hidden' })), '/content/clauses/0/key'],
    ['64-char key', content(clause({ key: 'a'.repeat(64) })), '/content/clauses/0/key'],
    [
      'duplicate keys',
      content({
        clauses: [
          { key: 'same', text: 'one' },
          { key: 'same', text: 'two' }
        ]
      }),
      '/content/clauses/1/key'
    ],
    ['empty text', content(clause({ text: '' })), '/content/clauses/0/text'],
    ['blank text', content(clause({ text: '   ' })), '/content/clauses/0/text'],
    ['2001-char text', content(clause({ text: 'x'.repeat(2001) })), '/content/clauses/0/text'],
    [
      '11 consequences',
      content(clause({ consequences: Array.from({ length: 11 }, (_, i) => `c${i}`) })),
      '/content/clauses/0/consequences'
    ],
    [
      'a 1001-char consequence',
      content(clause({ consequences: ['x'.repeat(1001)] })),
      '/content/clauses/0/consequences/0'
    ],
    ['an empty consequence', content(clause({ consequences: ['fine', ''] })), '/content/clauses/0/consequences/1'],
    ['appliesTo []', content(clause({ appliesTo: [] })), '/content/clauses/0/appliesTo'],
    ['appliesTo a non-uuid', content(clause({ appliesTo: ['bob'] })), '/content/clauses/0/appliesTo/0'],
    ['appliesTo "everyone"', content(clause({ appliesTo: 'everyone' })), '/content/clauses/0/appliesTo'],
    ['review missing', without('review'), '/content/review'],
    ['rrule missing', content({ review: { time: '19:00' } }), '/content/review/rrule'],
    ['FREQ=DAILY', content(withReview({ rrule: 'FREQ=DAILY' })), '/content/review/rrule'],
    ['FREQ=WEEKLY;BYDAY=MO,TH', content(withReview({ rrule: 'FREQ=WEEKLY;BYDAY=MO,TH' })), '/content/review/rrule'],
    [
      'FREQ=MONTHLY;BYMONTHDAY=1,2',
      content(withReview({ rrule: 'FREQ=MONTHLY;BYMONTHDAY=1,2' })),
      '/content/review/rrule'
    ],
    ['BYHOUR', content(withReview({ rrule: 'FREQ=WEEKLY;BYHOUR=9' })), '/content/review/rrule'],
    ['garbage rrule', content(withReview({ rrule: 'every sunday' })), '/content/review/rrule'],
    ['FREQ=HOURLY', content(withReview({ rrule: 'FREQ=HOURLY;INTERVAL=200' })), '/content/review/rrule'],
    ['time 25:00', content(withReview({ time: '25:00' })), '/content/review/time'],
    ['time 7pm', content(withReview({ time: '7pm' })), '/content/review/time'],
    ['note 2001 chars', content({ note: 'x'.repeat(2001) }), '/content/note']
  ]
  for (const [name, c, path] of cases) {
    isInvalid(
      t,
      await ctx.request({ method: 'POST', url: agreements, token: alice.token, body: { content: c } }),
      path,
      name
    )
  }

  // An unknown field is refused, and the problem names it.
  const unknownInContent = await ctx.request({
    method: 'POST',
    url: agreements,
    token: alice.token,
    body: { content: content({ mood: 'hopeful' }) }
  })
  isProblem(t, unknownInContent, 400, 'validation-failed', 'an unknown content field')
  t.match(JSON.stringify(problemOf(unknownInContent).errors), /mood/, 'the problem names the unknown field')
  t.ok(
    problemOf(unknownInContent).errors?.some((e) => e.path === '/content/mood'),
    'its path points at the unknown field'
  )
  const unknownTop = await ctx.request({
    method: 'POST',
    url: agreements,
    token: alice.token,
    body: { content: content(), publish: true }
  })
  isProblem(t, unknownTop, 400, 'validation-failed', 'an unknown top-level field')
  t.match(JSON.stringify(problemOf(unknownTop).errors), /publish/, 'the problem names the unknown field')
  t.ok(
    problemOf(unknownTop).errors?.some((e) => e.path === '/publish'),
    'its path points at the unknown field'
  )

  // A value the rrule library chokes on is refused without leaking its internals.
  const badByday = await ctx.request({
    method: 'POST',
    url: agreements,
    token: alice.token,
    body: { content: content(withReview({ rrule: 'FREQ=WEEKLY;BYDAY=XX' })) }
  })
  isInvalid(t, badByday, '/content/review/rrule', 'BYDAY=XX')
  t.notMatch(
    JSON.stringify(problemOf(badByday).errors),
    /Cannot read properties|undefined/,
    'no JavaScript error text in the problem'
  )

  // appliesTo may name only current partners (checked against the partnership, not the schema).
  for (const [who, id] of [
    ['a stranger', outsider.id],
    ['nobody', randomUUID()]
  ] as const) {
    const res = await ctx.request({
      method: 'POST',
      url: agreements,
      token: alice.token,
      body: { content: content(clause({ appliesTo: [bob.id, id] })) }
    })
    isInvalid(t, res, '/content/clauses/0/appliesTo', `appliesTo naming ${who}`)
  }
  isInvalid(
    t,
    await ctx.request({
      method: 'POST',
      url: agreements,
      token: alice.token,
      body: { content: content(clause({ appliesTo: [bob.id, bob.id] })) }
    }),
    '/content/clauses/0/appliesTo',
    'appliesTo naming a partner twice'
  )

  t.same(
    (await ctx.request({ method: 'GET', url: agreements, token: alice.token })).json().items,
    [],
    'no agreement was created'
  )
  t.equal(await k.headSeq(alice, pid), before, 'no event was appended')

  // The limits themselves are fine, and a partner's user id in appliesTo works.
  const maximal = content({
    title: 'T'.repeat(200),
    category: 'other',
    clauses: [
      {
        key: 'a'.repeat(63),
        text: 'x'.repeat(2000),
        appliesTo: [bob.id],
        consequences: ['y'.repeat(1000), ...Array.from({ length: 9 }, (_, i) => `c${i}`)]
      },
      ...Array.from({ length: 49 }, (_, i) => ({ key: `k-${i}`, text: 't', appliesTo: [alice.id, bob.id] }))
    ],
    review: { rrule: 'FREQ=WEEKLY;INTERVAL=1;BYDAY=SU', time: '23:59' },
    note: 'n'.repeat(2000)
  })
  const ok = await ctx.request({ method: 'POST', url: agreements, token: alice.token, body: { content: maximal } })
  t.equal(ok.statusCode, 201, ok.body.slice(0, 300))
  const v = ok.json().proposal
  t.same(v.content.clauses[0].appliesTo, [bob.id])
  t.equal(v.content.clauses.length, 50)
  t.same(v.content.review, { rrule: 'FREQ=WEEKLY;INTERVAL=1;BYDAY=SU', time: '23:59' })
})
