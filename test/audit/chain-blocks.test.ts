// Verification remembers the blocks of the log it found intact (src/audit/chain.service.ts, verifiedChainBreak):
// the MAC it keeps lets the next verification skip a block only while the block's stored rows are those it
// recomputed. Here: the MACs are kept, a change to any column of a remembered block is still found at its seq,
// a MAC is trusted only under the service's own secret, and one that no longer holds is replaced.
import { createHmac } from 'node:crypto'
import { sql } from 'drizzle-orm'
import t from 'tap'
import { blockDigests } from '../../src/audit/chain.repo.ts'
import { BLOCK } from '../../src/audit/chain.service.ts'
import * as eventRepo from '../../src/audit/event.repo.ts'
import { chainEvents, hashEvent, type NewEvent, toEventView } from '../../src/audit/event.rules.ts'
import { events } from '../../src/audit/event.sql.ts'
import type { Tx } from '../../src/db/client.ts'
import { execute } from '../../src/db/driver.ts'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'

const ctx = await buildTestApp(t)
const kit = agreementKit(ctx)
const [alice, bob] = [await kit.person('Alice'), await kit.person('Bob')]
const db = ctx.database.db

/** A partnership whose log holds two whole blocks and part of a third, chained as the API chains. */
async function longLog(): Promise<{ pid: string; head: number }> {
  const { pid } = await kit.partnership(alice, [bob])
  const last = await eventRepo.lastEvent(db, pid)
  const more: NewEvent[] = Array.from({ length: 2 * BLOCK + 100 - last!.seq }, (_, i) => ({
    partnershipId: pid,
    type: i % 2 ? 'partnership.updated' : 'webhook.created',
    actorId: i % 3 ? alice.id : null,
    subject: { type: 'partnership', id: pid },
    data: i % 2 ? { name: `Us ${i}` } : { eventTypes: ['version.*', `x${i}`] }
  }))
  const rows = chainEvents(last!, more, new Date())
  for (let i = 0; i < rows.length; i += 500) await db.insert(events).values(rows.slice(i, i + 500))
  return { pid, head: 2 * BLOCK + 100 }
}
const kept = async (pid: string) =>
  (await execute(db, 'select block, mac from chain_blocks where partnership_id = $1::uuid order by block', [pid])).map(
    (r) => ({ block: Number(r.block), mac: String(r.mac) })
  )
async function behindTheTriggers(fn: (tx: Tx) => Promise<unknown>): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.execute(sql`alter table events disable trigger user`)
    await fn(tx)
    await tx.execute(sql`alter table events enable trigger user`)
  })
}

t.test('a verification keeps a MAC for each whole block it found intact, and the next one agrees', async (t) => {
  const { pid, head } = await longLog()
  t.same(await kept(pid), [], 'nothing kept before the first verification')
  t.match(await kit.verify(alice, pid), { valid: true, eventCount: head })
  const first = await kept(pid)
  t.same(
    first.map((b) => b.block),
    [0, 1],
    'the two whole blocks (the last one is incomplete)'
  )
  t.match(await kit.verify(bob, pid), { valid: true, eventCount: head })
  t.same(await kept(pid), first, 'the same MACs: nothing recomputed needed keeping again')
})

t.test('a change to any column of a remembered block is found at its seq', async (t) => {
  const changes: Array<[string, string]> = [
    ['data', `data = '{"name":"Rewritten"}'::jsonb`],
    ['at', `at = at + interval '1 millisecond'`],
    ['type', `type = 'member.left'`],
    ['actor', `actor_id = null`],
    ['subject', `subject_id = 'x'`],
    ['subject type', `subject_type = 'webhook'`]
  ]
  for (const [what, set] of changes) {
    const { pid } = await longLog()
    t.match(await kit.verify(alice, pid), { valid: true }, `${what}: valid first`)
    const { checkpoint } = (
      await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/audit/checkpoint`, token: bob.token })
    ).json() as { checkpoint: string }
    const k = 700 // inside block 0, remembered now
    await behindTheTriggers((tx) =>
      tx.execute(sql.raw(`update events set ${set} where partnership_id = '${pid}' and seq = ${k}`))
    )
    t.match(await kit.verify(alice, pid), { valid: false, firstBrokenSeq: k, reason: 'hash-mismatch' }, what)
    t.match(
      (
        await ctx.request({
          method: 'POST',
          url: `/v1/partnerships/${pid}/audit/verify`,
          token: bob.token,
          body: { checkpoints: [checkpoint] }
        })
      ).json(),
      { chainBrokenAt: k },
      `${what}: POST …/audit/verify too`
    )
  }
  // A whole remembered block re-chained consistently from its first event: its link to the next block breaks.
  const { pid } = await longLog()
  t.match(await kit.verify(alice, pid), { valid: true })
  await behindTheTriggers((tx) => tx.execute(sql`delete from events where partnership_id = ${pid} and seq = 5`))
  t.match(await kit.verify(alice, pid), { valid: false, firstBrokenSeq: 5, reason: 'seq-gap' }, 'a deleted event')
})

t.test('a MAC is trusted only under the service’s secret, and one that fails is replaced', async (t) => {
  const { pid } = await longLog()
  t.match(await kit.verify(alice, pid), { valid: true })
  const good = await kept(pid)
  const k = 300
  await behindTheTriggers((tx) =>
    tx.execute(sql`update events set data = '{"name":"Rewritten"}'::jsonb where partnership_id = ${pid} and seq = ${k}`)
  )
  // The digest of the changed block 0, as the service computes it (chain.repo.ts).
  const [row] = await blockDigests(db, pid, 0, BLOCK, BLOCK)
  const macUnder = (key: Buffer) =>
    createHmac('sha256', key).update(`accord audit block\n${pid}\n${BLOCK}\n0\n${row!.digest}`).digest('hex')
  const setMac = (mac: string) =>
    execute(db, 'update chain_blocks set mac = $2 where partnership_id = $1::uuid and block = 0', [pid, mac])

  await setMac(macUnder(Buffer.alloc(32, 7)))
  t.match(await kit.verify(alice, pid), { valid: false, firstBrokenSeq: k }, 'a MAC forged without the secret: found')
  // With the secret itself (which the database holds only sealed), the block would be skipped: this is what
  // the MAC protects, and it shows the skipping is real.
  await setMac(macUnder(ctx.deps.serverSecrets.audit))
  t.match(await kit.verify(alice, pid), { valid: true }, 'under the secret: the block is trusted, not recomputed')

  // Undo the change; a MAC that no longer holds is replaced by the next verification.
  const original = `Us ${k - 5}`
  await behindTheTriggers((tx) =>
    tx.execute(
      sql`update events set data = ${JSON.stringify({ name: original })}::jsonb where partnership_id = ${pid} and seq = ${k}`
    )
  )
  await setMac('0'.repeat(64))
  t.match(await kit.verify(alice, pid), { valid: true })
  t.same(await kept(pid), good, 'the failing MAC was replaced by the right one')
})

t.test('a block re-chained up to a block boundary stays broken on every later verification', async (t) => {
  const { pid } = await longLog()
  t.match(await kit.verify(alice, pid), { valid: true })
  // Event 1000 changed and 1000..1024 re-hashed: block 0 is consistent in itself, its link to 1025 is not.
  const rows = (await eventRepo.listEvents(db, pid, 998, BLOCK - 998)).map(toEventView)
  let prevHash = rows[0]!.hash
  const rewritten = rows.slice(1).map((e) => {
    const data = e.seq === 1000 ? { name: 'Rewritten, carefully' } : e.data
    const hash = hashEvent({ ...e, data, prevHash })
    const row = { seq: e.seq, data, prevHash, hash }
    prevHash = hash
    return row
  })
  await behindTheTriggers(async (tx) => {
    for (const r of rewritten)
      await tx.execute(
        sql`update events set data = ${JSON.stringify(r.data)}::jsonb, prev_hash = ${r.prevHash}, hash = ${r.hash} where partnership_id = ${pid} and seq = ${r.seq}`
      )
  })
  for (const time of ['first', 'second', 'third'])
    t.match(
      await kit.verify(alice, pid),
      { valid: false, firstBrokenSeq: BLOCK + 1, reason: 'prev-hash-mismatch' },
      `${time} verification after the change`
    )
})

t.test('when keeping the MACs fails, the answer stands, and a change is still found', async (t) => {
  const { pid, head } = await longLog()
  // Keeping is a cache write after the answer is known: make every such write fail, as a read-only standby would.
  await db.execute(
    sql.raw(`create or replace function refuse_chain_blocks() returns trigger language plpgsql as $$
      begin raise exception 'chain_blocks is read-only here'; end $$`)
  )
  await db.execute(
    sql.raw(
      'create trigger refuse_chain_blocks before insert or update on chain_blocks for each row execute function refuse_chain_blocks()'
    )
  )
  try {
    t.match(await kit.verify(alice, pid), { valid: true, eventCount: head }, 'valid, though nothing could be kept')
    t.same(await kept(pid), [], 'and indeed nothing was kept')
    await behindTheTriggers((tx) =>
      tx.execute(
        sql`update events set data = '{"name":"Rewritten"}'::jsonb where partnership_id = ${pid} and seq = 700`
      )
    )
    t.match(
      await kit.verify(bob, pid),
      { valid: false, firstBrokenSeq: 700 },
      'the next verification recomputes everything and finds the change'
    )
  } finally {
    await db.execute(sql.raw('drop trigger refuse_chain_blocks on chain_blocks'))
  }
})
