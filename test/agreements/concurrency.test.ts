import { performance } from 'node:perf_hooks'
import { sql } from 'drizzle-orm'
import t from 'tap'
import { agreementKit, content } from '../helpers/agreements.ts'
import { buildTestApp, onPostgres } from '../helpers/app.ts'

// A pool large enough that 20 signing transactions really overlap on PostgreSQL.
const ctx = await buildTestApp(t, { env: { DATABASE_POOL_MAX: '20' } })
const k = agreementKit(ctx)

const AGREEMENTS = 100
const needsPostgres = onPostgres
  ? false
  : 'needs PostgreSQL: PGlite has a single connection, so signing transactions cannot overlap'

interface Signature {
  signerId: string
  contentHash: string
  revokedAt: string | null
}
interface Version {
  number: number
  status: string
  contentHash: string
  signatures: Signature[]
  requiredSigners: string[]
}

const [alice, bob, carol] = [await k.person('Alice'), await k.person('Bob'), await k.person('Carol')]

/** Alice's partnership, which Bob and Carol join as partners. */
async function partnershipOfThree(): Promise<{ pid: string; base: string }> {
  const { pid, url } = await k.partnership(alice, [bob, carol])
  return { pid, base: url }
}

/** Alice proposes an agreement (version 1; her proposal is her signature). */
async function propose(pid: string, i: number): Promise<{ id: string; contentHash: string }> {
  const a = await k.create(alice, pid, {
    content: content({
      title: `Agreement ${i}`,
      category: 'communication',
      clauses: [{ key: 'check-in', text: `We check in about thing ${i}.` }]
    })
  })
  return { id: a.id, contentHash: a.proposal.contentHash }
}

/** The SQLSTATE and constraint of a failed statement, looked for down the error's causes (drizzle wraps the driver's error). */
function pgError(err: unknown): { code?: string; constraint?: string } {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const x = e as Record<string, unknown>
    if (typeof x.code === 'string' && /^[0-9A-Z]{5}$/.test(x.code)) {
      const constraint = x.constraint_name ?? x.constraint
      return { code: x.code, ...(typeof constraint === 'string' ? { constraint } : {}) }
    }
  }
  return {}
}

async function failureOf(query: Promise<unknown>): Promise<{ code?: string; constraint?: string } | null> {
  try {
    await query
    return null
  } catch (err) {
    return pgError(err)
  }
}

t.test(
  `bob and carol sign ${AGREEMENTS} agreements at once: each activates exactly once`,
  { skip: needsPostgres },
  async (t) => {
    const { pid, base } = await partnershipOfThree()
    const agreements: Array<{ id: string; contentHash: string }> = []
    for (let i = 0; i < AGREEMENTS; i++) agreements.push(await propose(pid, i))

    let retries = 0
    const retried: string[] = []
    /** Signs, retrying a 409 or 503 that is not a content-hash mismatch (a lost race would be one; there should be none). */
    async function sign(
      a: { id: string; contentHash: string },
      who: string,
      token: string
    ): Promise<{ status: number; body: string; attempts: number }> {
      for (let attempt = 1; ; attempt++) {
        const res = await ctx.request({
          method: 'POST',
          url: `${base}/agreements/${a.id}/versions/1/signatures`,
          token,
          body: { contentHash: a.contentHash }
        })
        const retryable =
          (res.statusCode === 409 && res.json().code !== 'content-hash-mismatch') || res.statusCode === 503
        if (!retryable || attempt === 10) return { status: res.statusCode, body: res.body, attempts: attempt }
        retries++
        retried.push(`${who} on ${a.id}: ${res.statusCode} ${res.json().code}`)
        await new Promise((resolve) => setTimeout(resolve, 10 * attempt))
      }
    }

    const started = performance.now()
    const results = await Promise.all(
      agreements.flatMap((a) => [
        sign(a, 'bob', bob.token).then((r) => ({ ...r, what: `bob on ${a.id}` })),
        sign(a, 'carol', carol.token).then((r) => ({ ...r, what: `carol on ${a.id}` }))
      ])
    )
    const ms = performance.now() - started
    t.comment(
      `${results.length} concurrent signatures took ${ms.toFixed(0)} ms, with ${retries} retries${retried.length > 0 ? `: ${retried.slice(0, 10).join('; ')}` : ''}`
    )
    t.same(
      results.filter((r) => r.status !== 201).map((r) => `${r.what}: ${r.status} ${r.body.slice(0, 200)}`),
      [],
      'every signature was accepted'
    )
    t.equal(results.length, 2 * AGREEMENTS)

    // Each agreement: one active version, three live signatures, status active.
    const wrong: string[] = []
    for (const a of agreements) {
      const versions = (
        await ctx.request({ method: 'GET', url: `${base}/agreements/${a.id}/versions`, token: bob.token })
      ).json().items as Version[]
      const active = versions.filter((v) => v.status === 'active')
      if (versions.length !== 1 || active.length !== 1)
        wrong.push(`${a.id}: ${versions.length} versions, ${active.length} active`)
      const live = active[0]?.signatures.filter((s) => s.revokedAt === null) ?? []
      const signers = live.map((s) => s.signerId).sort()
      if (live.length !== 3 || signers.join() !== [alice.id, bob.id, carol.id].sort().join())
        wrong.push(`${a.id}: live signers ${signers.join()}`)
      if (!live.every((s) => s.contentHash === a.contentHash)) wrong.push(`${a.id}: a signature on other text`)
      const all = (
        await ctx.request({
          method: 'GET',
          url: `${base}/agreements/${a.id}/versions/1/signatures`,
          token: carol.token
        })
      ).json().items as Signature[]
      if (all.length !== 3) wrong.push(`${a.id}: ${all.length} signatures in all`)
      const agreement = (
        await ctx.request({ method: 'GET', url: `${base}/agreements/${a.id}`, token: alice.token })
      ).json()
      if (
        agreement.status !== 'active' ||
        agreement.activeVersion !== 1 ||
        agreement.openProposal !== null ||
        agreement.nextReviewAt === null
      ) {
        wrong.push(
          `${a.id}: agreement ${agreement.status}, active ${agreement.activeVersion}, open ${agreement.openProposal}, next review ${agreement.nextReviewAt}`
        )
      }
    }
    t.same(
      wrong,
      [],
      `each of the ${AGREEMENTS} agreements has exactly one active version, signed by all three, and is active`
    )

    // The log: exactly one version.activated per agreement, three version.signed, and the chain verifies.
    const events = await k.eventsAfter(alice, pid, 0)
    t.same(
      events.map((e) => e.seq),
      Array.from({ length: events.length }, (_, i) => i + 1),
      'seq is gapless'
    )
    const count = (type: string) => {
      const per = new Map<string, number>(agreements.map((a) => [a.id, 0]))
      for (const e of events)
        if (e.type === type) per.set(String(e.data.agreementId), (per.get(String(e.data.agreementId)) ?? 0) + 1)
      return per
    }
    const activated = count('version.activated')
    t.equal(activated.size, AGREEMENTS, 'no version.activated names another agreement')
    t.same(
      [...activated].filter(([, n]) => n !== 1),
      [],
      'exactly one version.activated per agreement'
    )
    t.equal(events.filter((e) => e.type === 'version.activated').length, AGREEMENTS)
    t.same(
      [...count('version.signed')].filter(([, n]) => n !== 3),
      [],
      'three version.signed per agreement'
    )
    const activators = events.filter((e) => e.type === 'version.activated').map((e) => e.actorId)
    t.ok(
      activators.every((id) => id === bob.id || id === carol.id),
      'the second of bob and carol activates'
    )
    t.comment(
      `bob activated ${activators.filter((id) => id === bob.id).length}, carol ${activators.filter((id) => id === carol.id).length}`
    )
    const verify = await k.verify(alice, pid)
    t.match(verify, { valid: true, eventCount: events.length, firstBrokenSeq: null })

    // Late signatures change nothing: each is refused (the version is no longer open).
    const late = await ctx.request({
      method: 'POST',
      url: `${base}/agreements/${agreements[0]!.id}/versions/1/signatures`,
      token: bob.token,
      body: { contentHash: agreements[0]!.contentHash }
    })
    t.equal(late.statusCode, 409)
  }
)

t.test('the database itself refuses a second active version and a second live signature', async (t) => {
  const { pid, base } = await partnershipOfThree()
  const a = await propose(pid, 0)
  for (const who of [bob, carol]) {
    const res = await ctx.request({
      method: 'POST',
      url: `${base}/agreements/${a.id}/versions/1/signatures`,
      token: who.token,
      body: { contentHash: a.contentHash }
    })
    t.equal(res.statusCode, 201, res.body)
  }
  const [v1] = await ctx.database.rows<{ id: string; status: string }>(
    sql`select id, status from agreement_versions where agreement_id = ${a.id} and number = 1`
  )
  t.equal(v1?.status, 'active')

  const secondActive = await failureOf(
    ctx.database.rows(sql`
    insert into agreement_versions (id, agreement_id, number, kind, status, content, content_hash, previous_hash, based_on, author_id, required_signers, created_at, proposed_at, activated_at)
    values (gen_random_uuid(), ${a.id}, 2, 'terms', 'active', '{"note": null}'::jsonb, 'sha256:forged', ${a.contentHash}, 1, ${alice.id}, '[]'::jsonb, now(), now(), now())`)
  )
  t.strictSame(
    secondActive,
    { code: '23505', constraint: 'agreement_versions_one_active_idx' },
    'a second active version is a unique violation'
  )

  const duplicate = await failureOf(
    ctx.database.rows(sql`
    insert into signatures (id, version_id, signer_id, content_hash, signed_at, receipt)
    values (gen_random_uuid(), ${v1!.id}, ${bob.id}, ${a.contentHash}, now(), 'forged')`)
  )
  t.strictSame(
    duplicate,
    { code: '23505', constraint: 'signatures_one_live_idx' },
    'a second live signature by the same signer is a unique violation'
  )

  // The controls: the same rows without the conflicting state are accepted, so the index (not a typo) refused them.
  await ctx.database.db
    .transaction(async (tx) => {
      await tx.execute(sql`
      insert into agreement_versions (id, agreement_id, number, kind, status, content, content_hash, previous_hash, based_on, author_id, required_signers, created_at)
      values (gen_random_uuid(), ${a.id}, 2, 'terms', 'withdrawn', '{"note": null}'::jsonb, 'sha256:forged', ${a.contentHash}, 1, ${alice.id}, '[]'::jsonb, now())`)
      await tx.execute(sql`
      insert into signatures (id, version_id, signer_id, content_hash, signed_at, receipt, revoked_at)
      values (gen_random_uuid(), ${v1!.id}, ${bob.id}, ${a.contentHash}, now(), 'forged', now())`)
      t.pass('a closed version and a revoked signature are accepted alongside')
      tx.rollback()
    })
    .catch((err: unknown) => {
      if (!(err instanceof Error && /rollback/i.test(err.message))) throw err
    })
  const [count] = await ctx.database.rows<{ versions: number; signatures: number }>(sql`
    select (select count(*)::int from agreement_versions where agreement_id = ${a.id}) as versions,
           (select count(*)::int from signatures where version_id = ${v1!.id}) as signatures`)
  t.strictSame(count, { versions: 1, signatures: 3 }, 'nothing was left behind')
})

t.test(
  'sign-offs in many partnerships at once are written in groups, each exactly once, while some of those logs move',
  { skip: needsPostgres },
  async (t) => {
    const PARTNERSHIPS = 24
    const all = await Promise.all(
      Array.from({ length: PARTNERSHIPS }, async (_, i) => {
        const { pid, base } = await partnershipOfThree()
        return { pid, base, agreement: await propose(pid, i) }
      })
    )
    const signAll = (token: string) =>
      Promise.all(
        all.map(({ base, agreement: a }) =>
          ctx.request({
            method: 'POST',
            url: `${base}/agreements/${a.id}/versions/1/signatures`,
            token,
            body: { contentHash: a.contentHash }
          })
        )
      )

    const bobs = await signAll(bob.token)
    t.same(
      bobs.map((r) => r.statusCode),
      all.map(() => 201),
      "bob's signatures (not the last) are all accepted"
    )
    t.same(
      bobs.map((r) => r.json().versionStatus),
      all.map(() => 'proposed')
    )

    // Alice renames every third partnership while carol signs: each rename appends to that log between carol's
    // read and her write, so a group holding that write fails as a whole and its signatures are written one by one.
    const renames = all
      .filter((_, i) => i % 3 === 0)
      .map(async ({ base }) => {
        const etag = (await ctx.request({ method: 'GET', url: base, token: alice.token })).headers.etag as string
        return ctx.request({
          method: 'PATCH',
          url: base,
          token: alice.token,
          headers: { 'if-match': etag },
          body: { name: 'Renamed' }
        })
      })
    const [carols, renamed] = await Promise.all([signAll(carol.token), Promise.all(renames)])
    t.same(
      carols.map((r) => r.statusCode),
      all.map(() => 201),
      "carol's signatures (the last) are all accepted"
    )
    t.same(
      carols.map((r) => r.json().versionStatus),
      all.map(() => 'active'),
      'and each activates its version'
    )
    t.same(
      renamed.map((r) => r.statusCode),
      renamed.map(() => 200),
      'every rename went through'
    )

    const wrong: string[] = []
    for (const { pid, base, agreement: a } of all) {
      const detail = (await ctx.request({ method: 'GET', url: `${base}/agreements/${a.id}`, token: bob.token })).json()
      const live = (detail.active?.signatures ?? []) as Signature[]
      if (detail.status !== 'active' || detail.activeVersion !== 1 || detail.nextReviewAt === null || live.length !== 3)
        wrong.push(`${a.id}: ${detail.status}, ${live.length} signatures`)
      const events = await k.eventsAfter(alice, pid, 0)
      if (events.filter((e) => e.type === 'version.activated').length !== 1)
        wrong.push(`${base}: not one version.activated`)
      if (events.filter((e) => e.type === 'version.signed').length !== 3)
        wrong.push(`${base}: not three version.signed`)
      const verify = await k.verify(carol, pid)
      if (verify.valid !== true) wrong.push(`${base}: log broken at ${verify.firstBrokenSeq}`)
    }
    t.same(wrong, [], 'every agreement is active with three signatures, one activation, and an intact log')

    // Rows written by one statement share its transaction id: fewer transactions than signatures means grouping happened.
    const [row] = await ctx.database.rows<{ signatures: number; transactions: number }>(sql`
    select count(*)::int as signatures, count(distinct s.xmin::text)::int as transactions
    from signatures s join agreement_versions v on v.id = s.version_id
    where v.agreement_id in ${all.map(({ agreement }) => agreement.id)} and s.signer_id in (${bob.id}, ${carol.id})`)
    t.equal(row?.signatures, 2 * PARTNERSHIPS)
    t.ok(
      (row?.transactions ?? Infinity) < 2 * PARTNERSHIPS,
      `${row?.transactions} transactions wrote ${row?.signatures} signatures`
    )
  }
)
