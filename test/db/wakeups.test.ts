import t from 'tap'
import { appendEvent } from '../../src/audit/append.service.ts'
import { headSeqs } from '../../src/audit/event.repo.ts'
import { transaction } from '../../src/db/transaction.ts'
import { wakeupsOf } from '../../src/db/wakeups.ts'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'

// The wake-ups of the live log (db/wakeups.ts): every writer of the events table wakes the partnership's
// streams, only after its commit (a wake-up that came first would find nothing new), and a rolled-back
// transaction wakes nobody.
const ctx = await buildTestApp(t)
const kit = agreementKit(ctx)
const wakeups = wakeupsOf(ctx.deps.db)!
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Every wake-up, with the head of the woken log as the database shows it at that moment. */
const seen: Array<{ pid: string; head: Promise<number> }> = []
const unsubscribe = wakeups.subscribe(
  (pid) => seen.push({ pid, head: headSeqs(ctx.deps.db, [pid]).then((h) => h.get(pid) ?? 0) }),
  () => {}
)
t.teardown(unsubscribe)

/** The heads seen by the wake-ups of `pid` from `since` on (after everything sent has been delivered). */
async function wokenHeads(pid: string, since: number): Promise<number[]> {
  await sleep(100)
  return Promise.all(
    seen
      .slice(since)
      .filter((w) => w.pid === pid)
      .map((w) => w.head)
  )
}

t.test('a write through the transaction door wakes its partnership once committed', async (t) => {
  const { alice, pid } = await kit.couple()
  await sleep(100) // the arrangement's own wake-ups are delivered
  const since = seen.length
  const res = await ctx.request({
    method: 'PATCH',
    url: `/v1/partnerships/${pid}`,
    token: alice.token,
    headers: { 'if-match': '*' },
    body: { name: 'Renamed' }
  })
  t.equal(res.statusCode, 200)
  const heads = await wokenHeads(pid, since)
  t.ok(heads.length >= 1, 'woken')
  t.ok(
    heads.every((h) => h >= 5),
    'every wake-up finds the event committed'
  )
})

t.test('the sign-off, whose one statement writes its events, wakes too (grouped and activating)', async (t) => {
  const { alice, bob, pid } = await kit.couple()
  const created = await kit.create(alice, pid)
  await sleep(100)
  const since = seen.length
  const signed = await kit.sign(bob, pid, created.id, 1)
  t.equal(signed.statusCode, 201)
  const head = (await headSeqs(ctx.deps.db, [pid])).get(pid)!
  const heads = await wokenHeads(pid, since)
  t.ok(heads.length >= 1, 'woken')
  t.ok(
    heads.every((h) => h === head),
    'after the signature and the activation were committed'
  )
})

t.test('a transaction that rolls back wakes nobody', async (t) => {
  const { alice, pid } = await kit.couple()
  await sleep(100)
  const since = seen.length
  await t.rejects(
    transaction(ctx.deps.db, async (tx) => {
      await appendEvent(tx, ctx.deps.now, {
        partnershipId: pid,
        type: 'partnership.updated',
        actorId: alice.id,
        subject: { type: 'partnership', id: pid },
        data: {}
      })
      throw new Error('changed my mind')
    }),
    /changed my mind/
  )
  t.same(await wokenHeads(pid, since), [], 'no wake-up')
})

t.test('wake-ups sent in one tick go out together, once per partnership', async (t) => {
  const pids = ['0190a4c5-0000-7000-8000-000000000001', '0190a4c5-0000-7000-8000-000000000002']
  const since = seen.length
  for (let i = 0; i < 5; i++) for (const pid of pids) wakeups.send(pid)
  await sleep(100)
  const local = seen.slice(since).map((w) => w.pid)
  for (const pid of pids) t.ok(local.filter((p) => p === pid).length >= 1, 'each partnership woken')
  // Locally once per tick; on PostgreSQL the instance's own NOTIFY comes back through LISTEN too (once).
  for (const pid of pids) t.ok(local.filter((p) => p === pid).length <= 2, 'not once per send')
})
