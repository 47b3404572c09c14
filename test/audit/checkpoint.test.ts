import { sql } from 'drizzle-orm'
import { compactVerify, createLocalJWKSet, decodeProtectedHeader } from 'jose'
import t from 'tap'
import { RECEIPT_TYP } from '../../src/agreements/signature.rules.ts'
import { CHECKPOINT_TYP } from '../../src/audit/checkpoint.rules.ts'
import { chainEvents } from '../../src/audit/event.rules.ts'
import { agreementKit, type Person } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isInvalid, isProblem } from '../helpers/problems.ts'

const ctx = await buildTestApp(t)
const kit = agreementKit(ctx)
const [alice, bob] = [await kit.person('Alice'), await kit.person('Bob')]

async function checkpoint(by: Person, pid: string): Promise<any> {
  const res = await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/audit/checkpoint`, token: by.token })
  if (res.statusCode !== 200) throw new Error(`checkpoint: ${res.statusCode} ${res.body}`)
  return res.json()
}
const verify = (by: Person, pid: string, checkpoints: unknown) =>
  ctx.request({ method: 'POST', url: `/v1/partnerships/${pid}/audit/verify`, token: by.token, body: { checkpoints } })

async function rename(pid: string, name: string): Promise<void> {
  const res = await ctx.request({
    method: 'PATCH',
    url: `/v1/partnerships/${pid}`,
    token: alice.token,
    headers: { 'if-match': '*' },
    body: { name }
  })
  if (res.statusCode !== 200) throw new Error(`rename: ${res.statusCode}`)
}

/** A partnership of Alice and Bob with `renames` renames after its 4 first events. */
async function partnership(renames: number): Promise<string> {
  const { pid } = await kit.partnership(alice, [bob])
  for (let i = 1; i <= renames; i++) await rename(pid, `Name ${i}`)
  return pid
}

/**
 * What someone with superuser rights can do: replace event `k`'s data and recompute every later hash with the
 * log's own chain function, so the chain is consistent again and GET verify says valid. Behind the append-only
 * triggers, in one transaction (no other session sees them off). PGlite runs as a superuser too: both databases.
 */
async function rewriteHistory(pid: string, k: number, data: Record<string, unknown>): Promise<void> {
  const events = await kit.eventsAfter(alice, pid, 0)
  await ctx.database.db.transaction(async (tx) => {
    await tx.execute(sql`alter table events disable trigger user`)
    let last: { seq: number; hash: string } | null = k === 1 ? null : { seq: k - 1, hash: events[k - 2]!.hash }
    for (const e of events.slice(k - 1)) {
      const [row] = chainEvents(
        last,
        [
          {
            partnershipId: e.partnershipId,
            type: e.type,
            actorId: e.actorId,
            subject: e.subject,
            data: e.seq === k ? data : e.data
          }
        ],
        new Date(e.at)
      )
      await tx.execute(
        sql`update events set data = ${JSON.stringify(row!.data)}::jsonb, prev_hash = ${row!.prevHash}, hash = ${row!.hash}
            where partnership_id = ${pid} and seq = ${e.seq}`
      )
      last = { seq: row!.seq, hash: row!.hash }
    }
    await tx.execute(sql`alter table events enable trigger user`)
  })
}

t.test('GET …/audit/checkpoint: the head, signed as a checkpoint', async (t) => {
  const pid = await partnership(1)
  const cp = await checkpoint(alice, pid)
  const events = await kit.eventsAfter(alice, pid, 0)
  t.match(cp, { partnershipId: pid, seq: 5, hash: events[4]!.hash, kid: ctx.deps.keys.kid })
  const jwks = (await ctx.request({ method: 'GET', url: '/.well-known/jwks.json' })).json()
  const { payload, protectedHeader } = await compactVerify(cp.checkpoint, createLocalJWKSet(jwks), {
    algorithms: ['EdDSA']
  })
  t.same(protectedHeader, { alg: 'EdDSA', kid: ctx.deps.keys.kid, typ: CHECKPOINT_TYP })
  t.same(JSON.parse(new TextDecoder().decode(payload)), {
    iss: cp.iss,
    partnershipId: pid,
    seq: 5,
    hash: events[4]!.hash,
    at: cp.at
  })
  const ok = await verify(bob, pid, [cp.checkpoint])
  t.equal(ok.statusCode, 200)
  t.match(ok.json(), {
    partnershipId: pid,
    head: { seq: 5 },
    chainBrokenAt: null,
    results: [{ index: 0, status: 'ok', seq: 5, currentHash: events[4]!.hash, firstDifferingSeq: null }],
    firstDifference: null
  })
  await rename(pid, 'Later')
  t.match((await verify(bob, pid, [cp.checkpoint])).json().results, [{ status: 'ok' }], 'still ok after appends')
})

t.test('a history rewritten with recomputed hashes passes GET verify but not a kept checkpoint', async (t) => {
  const pid = await partnership(2) // seq 1..6
  const kept5 = await checkpoint(alice, pid)
  await rename(pid, 'Seventh') // seq 7
  const kept7 = await checkpoint(bob, pid)
  await rename(pid, 'Eighth') // seq 8
  const kept8 = await checkpoint(alice, pid)
  const before = await kit.eventsAfter(alice, pid, 0)

  await rewriteHistory(pid, 7, { name: 'Never happened' })

  const after = await kit.eventsAfter(alice, pid, 0)
  t.same(after[6]!.data, { name: 'Never happened' }, 'event 7 was rewritten')
  t.not(after[7]!.hash, before[7]!.hash, 'and every later hash recomputed')
  t.match(await kit.verify(alice, pid), { valid: true, eventCount: 8 }, 'GET verify cannot tell')

  const res = await verify(alice, pid, [kept8.checkpoint, kept5.checkpoint, kept7.checkpoint])
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.equal(body.chainBrokenAt, null, 'the chain itself recomputes')
  t.match(body.results, [
    {
      index: 0,
      status: 'rewritten',
      seq: 8,
      currentHash: after[7]!.hash,
      differsAfter: 6,
      differsAtOrBefore: 8,
      firstDifferingSeq: null
    },
    { index: 1, status: 'ok', seq: 6 },
    {
      index: 2,
      status: 'rewritten',
      seq: 7,
      hash: before[6]!.hash,
      currentHash: after[6]!.hash,
      differsAfter: 6,
      differsAtOrBefore: 7,
      firstDifferingSeq: 7
    }
  ])
  t.same(body.firstDifference, { after: 6, atOrBefore: 7, seq: 7 }, 'the first seq that differs: 7')

  const alone = (await verify(alice, pid, [kept8.checkpoint])).json()
  t.match(
    alone.results,
    [{ status: 'rewritten', differsAfter: 0, differsAtOrBefore: 8, firstDifferingSeq: null }],
    'one checkpoint alone proves a change at or before its seq, not which'
  )
  t.same(alone.firstDifference, { after: 0, atOrBefore: 8, seq: null })
})

t.test('a changed row whose hashes were not recomputed: rewritten, and where the chain breaks', async (t) => {
  const pid = await partnership(3) // seq 1..7
  const kept = await checkpoint(alice, pid)
  await ctx.database.db.transaction(async (tx) => {
    await tx.execute(sql`alter table events disable trigger user`)
    await tx.execute(sql`update events set data = '{"name":"x"}'::jsonb where partnership_id = ${pid} and seq = 6`)
    await tx.execute(sql`alter table events enable trigger user`)
  })
  const body = (await verify(alice, pid, [kept.checkpoint])).json()
  t.equal(body.chainBrokenAt, 6)
  t.match(
    body.results,
    [{ status: 'rewritten', seq: 7, hash: kept.hash, currentHash: null }],
    'its stored hash is intact, the events are not'
  )
})

t.test('a log cut short: missing', async (t) => {
  const pid = await partnership(2) // seq 1..6
  const kept = await checkpoint(alice, pid)
  const early = (await kit.eventsAfter(alice, pid, 0))[3]!
  await ctx.database.db.transaction(async (tx) => {
    await tx.execute(sql`alter table events disable trigger user`)
    await tx.execute(sql`delete from events where partnership_id = ${pid} and seq > 4`)
    await tx.execute(sql`alter table events enable trigger user`)
  })
  const body = (await verify(alice, pid, [kept.checkpoint])).json()
  t.match(body, { head: { seq: 4, hash: early.hash }, results: [{ status: 'missing', seq: 6, currentHash: null }] })
})

t.test('checkpoints that are not good ones of this log', async (t) => {
  const pid = await partnership(0)
  const other = await partnership(0)
  const ours = await checkpoint(alice, pid)
  const theirs = await checkpoint(alice, other)
  const [h, p, s] = ours.checkpoint.split('.')
  const flipped = `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`
  // A receipt: signed by the same key, of another type.
  const aid = await kit.activeAgreement(alice, [bob], pid)
  const receipt = (await kit.version(alice, pid, aid, 1)).body.signatures[0].receipt as string
  // A payload forged with another key's signature on the same header.
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...ours, seq: 1 })).toString('base64url')}.${s}`
  const res = await verify(alice, pid, [ours.checkpoint, flipped, theirs.checkpoint, receipt, forged])
  t.equal(res.statusCode, 200)
  t.match(
    res.json().results.map((r: { status: string }) => r.status),
    ['ok', 'bad-signature', 'other-partnership', 'not-a-checkpoint', 'bad-signature']
  )
})

t.test('POST …/audit/verify refuses what is not a list of compact JWS', async (t) => {
  const pid = await partnership(0)
  isInvalid(t, await verify(alice, pid, ['not a jws']), '/checkpoints/0', 'plain text')
  isInvalid(t, await verify(alice, pid, []), '/checkpoints', 'none')
  const cp = (await checkpoint(alice, pid)).checkpoint
  isInvalid(t, await verify(alice, pid, Array(101).fill(cp)), '/checkpoints', 'more than 100')
  // Three base64url parts whose header is not JSON: the shape passes, the text is still not a JWS.
  const notJson = `${Buffer.from('nope').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.AAAA`
  isInvalid(t, await verify(alice, pid, [cp, notJson]), '/checkpoints/1', 'a header that is not JSON')
  isProblem(
    t,
    await ctx.request({
      method: 'POST',
      url: `/v1/partnerships/${pid}/audit/verify`,
      token: alice.token,
      body: { checkpoints: [cp], more: 1 }
    }),
    400,
    'validation-failed',
    'unknown fields'
  )
})

t.test('checkpoints, receipts and tokens are never taken for one another', async (t) => {
  const pid = await partnership(0)
  const cp = (await checkpoint(alice, pid)).checkpoint
  const aid = await kit.activeAgreement(alice, [bob], pid)
  const receipt = (await kit.version(alice, pid, aid, 1)).body.signatures[0].receipt as string
  t.equal(decodeProtectedHeader(receipt).typ, RECEIPT_TYP)

  for (const [what, jws] of [
    ['a checkpoint', cp],
    ['a receipt', receipt]
  ] as const) {
    isProblem(
      t,
      await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}`, headers: { authorization: `Bearer ${jws}` } }),
      401,
      'token-invalid',
      `${what} as a bearer token`
    )
  }
  t.match(
    await ctx.deps.keys.verifyJws(cp, RECEIPT_TYP),
    { ok: false, reason: 'wrong-type' },
    'a checkpoint is not a receipt'
  )
  t.match(await ctx.deps.keys.verifyJws(receipt, RECEIPT_TYP), { ok: true }, 'where a receipt verifies')
  t.match(
    await ctx.deps.keys.verifyJws(receipt, CHECKPOINT_TYP),
    { ok: false, reason: 'wrong-type' },
    'a receipt is not a checkpoint'
  )
  t.match((await verify(alice, pid, [receipt])).json().results, [{ status: 'not-a-checkpoint', seq: null }])
  // The check README.md shows for receipts (jose, then the typ) refuses a checkpoint as well.
  const jwks = createLocalJWKSet((await ctx.request({ method: 'GET', url: '/.well-known/jwks.json' })).json())
  const { protectedHeader } = await compactVerify(cp, jwks, { algorithms: ['EdDSA'] })
  t.not(protectedHeader.typ, RECEIPT_TYP, 'the README receipt check (typ must be accord-receipt+jws) fails on it')
  const token = await ctx.token(alice.sub, { name: alice.name })
  t.match(
    await ctx.deps.keys.verifyJws(token, CHECKPOINT_TYP),
    { ok: false, reason: 'wrong-type' },
    'a token is not a checkpoint'
  )
  t.match((await verify(alice, pid, [token])).json().results, [{ status: 'not-a-checkpoint' }])
})

t.test('members only', async (t) => {
  const pid = await partnership(0)
  const stranger = await kit.person('Mallory')
  isProblem(
    t,
    await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/audit/checkpoint`, token: stranger.token }),
    404,
    'not-found'
  )
  const cp = (await checkpoint(alice, pid)).checkpoint
  isProblem(t, await verify(stranger, pid, [cp]), 404, 'not-found')
})
