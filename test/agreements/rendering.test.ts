import type { Test } from 'tap'
import t from 'tap'
import { AgreementDetailSchema, toAgreementDetail } from '../../src/agreements/agreement.schemas.ts'
import { getAgreement } from '../../src/agreements/agreement.service.ts'
import { agreementKit, content, type Person } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem, problemShape } from '../helpers/problems.ts'

// GET agreement is rendered to JSON by the database (one statement, no row decoding). The reference is
// the application's own rendering of the same rows through the response schema: they must be equal in
// every state an agreement can be in, field for field and type for type.
const ctx = await buildTestApp(t)
const kit = agreementKit(ctx)
// A second instance on the same database that keeps no rendered bodies: both must always answer alike.
const uncached = await buildTestApp(t, { database: ctx.database, env: { AGREEMENT_CACHE_MB: '0' } })

/** The last body and ETag seen per agreement: a strong ETag must change whenever the body does. */
const seen = new Map<string, { body: string; etag: string }>()

async function sameAsReference(t: Test, who: Person, pid: string, aid: string, what: string): Promise<void> {
  const res = await ctx.request({ method: 'GET', url: kit.agreementUrl(pid, aid), token: who.token })
  const before = seen.get(aid)
  if (before && before.body !== res.body)
    t.not(res.headers.etag, before.etag, `${what}: the body changed, so the ETag did`)
  seen.set(aid, { body: res.body, etag: res.headers.etag as string })
  t.equal(res.statusCode, 200, `${what}: ${res.body}`)
  t.match(res.headers['content-type'], /^application\/json; charset=utf-8$/, `${what}: JSON`)
  const detail = await getAgreement(ctx.deps, { partnershipId: pid, agreementId: aid, userId: who.id })
  const reference = AgreementDetailSchema.parse(toAgreementDetail(detail))
  t.strictSame(res.json(), reference, what)
  t.equal(res.headers.etag, `"v${detail.agreement.revision}"`, `${what}: ETag`)
  const again = await ctx.request({ method: 'GET', url: kit.agreementUrl(pid, aid), token: who.token })
  const fresh = await uncached.request({ method: 'GET', url: kit.agreementUrl(pid, aid), token: who.token })
  t.strictSame(
    [again.body, again.headers.etag],
    [res.body, res.headers.etag],
    `${what}: the kept body is served again unchanged`
  )
  t.strictSame(
    [fresh.body, fresh.headers.etag],
    [res.body, res.headers.etag],
    `${what}: an instance without kept bodies answers the same`
  )
  // The content-length counts the body's UTF-8 bytes, not its characters (the title above has emoji and accents).
  for (const [answer, which] of [
    [res, 'rendered'],
    [again, 'kept'],
    [fresh, 'uncached']
  ] as const)
    t.equal(
      Number(answer.headers['content-length']),
      Buffer.byteLength(answer.body),
      `${what}: ${which} content-length`
    )
}

t.test('the database-rendered GET equals the schema rendering in every state', async (t) => {
  const [alice, bob, cleo] = await Promise.all([kit.person('Alice'), kit.person('Bob'), kit.person('Cleo')])
  const { pid } = await kit.partnership(alice, [bob, cleo])

  // A draft: no active version, no proposal.
  const draft = await kit.create(alice, pid, { content: content({ title: 'Draft only' }), draft: true })
  await sameAsReference(t, alice, pid, draft.id, 'draft')

  // A proposal with one of three signatures, text that needs escaping, clauses bound to some partners.
  const tricky = content({
    title: 'Quotes " and \\ backslashes, tabs\t, emoji 🫶 and ünïcödé',
    note: 'Line one\nline two </script> & <b>',
    clauses: [
      {
        key: 'a',
        text: 'Only Bob: "no late-night DMs"',
        appliesTo: [bob.id],
        consequences: ['Talk within 24 h', 'Counselor session']
      },
      { key: 'b', text: 'Everyone', consequences: [] }
    ],
    review: { rrule: 'FREQ=WEEKLY;BYDAY=SU', time: '08:05' }
  })
  const proposed = await kit.create(alice, pid, { content: tricky })
  await sameAsReference(t, cleo, pid, proposed.id, 'proposed, 1 of 3 signatures')

  // Active (with a next review date), then in revision with a signed proposal on top.
  const aid = await kit.activeAgreement(alice, [bob, cleo], pid)
  await sameAsReference(t, bob, pid, aid, 'active')
  kit.expectStatus(
    await kit.proposeVersion(bob, pid, aid, { basedOn: 1, content: content({ title: 'Revised', note: 'tighter' }) }),
    201,
    'propose v2'
  )
  kit.expectStatus(await kit.sign(cleo, pid, aid, 2), 201, 'cleo signs v2')
  await sameAsReference(t, alice, pid, aid, 'in revision, proposal 2 of 3')

  // A revoked signature drops out of the proposal's list.
  kit.expectStatus(
    await ctx.request({ method: 'DELETE', url: `${kit.versionUrl(pid, aid, 2)}/signatures/me`, token: cleo.token }),
    204,
    'cleo revokes'
  )
  await sameAsReference(t, alice, pid, aid, 'after a revocation')

  // Consent revoked on the active version: suspended.
  const other = await kit.activeAgreement(alice, [bob, cleo], pid, content({ title: 'To suspend' }))
  kit.expectStatus(
    await ctx.request({ method: 'DELETE', url: `${kit.versionUrl(pid, other, 1)}/signatures/me`, token: bob.token }),
    204,
    'bob revokes consent'
  )
  await sameAsReference(t, alice, pid, other, 'suspended')

  // A retirement proposal, then retired.
  const retiring = await kit.activeAgreement(alice, [bob, cleo], pid, content({ title: 'To retire' }))
  kit.expectStatus(
    await kit.proposeVersion(alice, pid, retiring, { basedOn: 1, kind: 'retirement', note: 'We outgrew it' }),
    201,
    'propose retirement'
  )
  await sameAsReference(t, bob, pid, retiring, 'retirement proposed')
  kit.expectStatus(await kit.sign(bob, pid, retiring, 2), 201, 'bob signs the retirement')
  kit.expectStatus(await kit.sign(cleo, pid, retiring, 2), 201, 'cleo signs the retirement')
  await sameAsReference(t, bob, pid, retiring, 'retired')
})

t.test('a body kept by one instance is never served after another instance changed the agreement', async (t) => {
  const [alice, bob, cleo] = await Promise.all([kit.person('Alice'), kit.person('Bob'), kit.person('Cleo')])
  const { pid } = await kit.partnership(alice, [bob, cleo])
  const a = await kit.create(alice, pid)
  await sameAsReference(t, alice, pid, a.id, 'proposed, kept by the first instance')
  // Bob signs through the other instance: the first has no way to know but the database.
  const v1 = (await uncached.request({ method: 'GET', url: kit.versionUrl(pid, a.id, 1), token: bob.token })).json()
  t.equal(
    (
      await uncached.request({
        method: 'POST',
        url: `${kit.versionUrl(pid, a.id, 1)}/signatures`,
        token: bob.token,
        body: { contentHash: v1.contentHash }
      })
    ).statusCode,
    201
  )
  const after = await ctx.request({ method: 'GET', url: kit.agreementUrl(pid, a.id), token: alice.token })
  t.equal(after.json().proposal.signatures.length, 2, 'the first instance shows the signature made elsewhere')
  await sameAsReference(t, alice, pid, a.id, 'signed elsewhere')
  // A partner who leaves through the other instance loses access at once on this one too.
  await sameAsReference(t, cleo, pid, a.id, 'kept for cleo')
  t.equal(
    (await uncached.request({ method: 'DELETE', url: `/v1/partnerships/${pid}/members/me`, token: cleo.token }))
      .statusCode,
    204
  )
  t.equal(
    (await ctx.request({ method: 'GET', url: kit.agreementUrl(pid, a.id), token: cleo.token })).statusCode,
    404,
    'no kept body for someone who left'
  )
})

t.test('the rendered GET answers strangers, former members and unknown ids exactly as before', async (t) => {
  const [alice, bob, eve] = await Promise.all([kit.person('Alice'), kit.person('Bob'), kit.person('Eve')])
  const { pid } = await kit.partnership(alice, [bob])
  const aid = await kit.activeAgreement(alice, [bob], pid)
  const unknown = '00000000-0000-4000-8000-000000000000'
  const stranger = await ctx.request({ method: 'GET', url: kit.agreementUrl(pid, aid), token: eve.token })
  const nothing = await ctx.request({ method: 'GET', url: kit.agreementUrl(unknown, aid), token: eve.token })
  isProblem(t, stranger, 404, 'not-found', 'a stranger')
  t.strictSame(problemShape(stranger), problemShape(nothing), 'a stranger learns nothing a wrong id would not tell')
  isProblem(
    t,
    await ctx.request({ method: 'GET', url: kit.agreementUrl(pid, unknown), token: alice.token }),
    404,
    'not-found',
    'unknown agreement in my partnership'
  )
  await kit.leave(bob, pid)
  t.equal(
    (await ctx.request({ method: 'GET', url: kit.agreementUrl(pid, aid), token: bob.token })).statusCode,
    404,
    'a partner who left reads nothing'
  )
})
