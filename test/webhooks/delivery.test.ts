import { randomUUID } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import t from 'tap'
import { recordDelivered, recordDeliveredGrouped } from '../../src/webhooks/delivery.repo.ts'
import { claimDeliveries, deliverDue, deliverOne } from '../../src/webhooks/delivery.service.ts'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { incidentKit, incidentTerms } from '../helpers/incidents.ts'
import { type Received, receiver, webhookKit } from '../helpers/webhooks.ts'

const ctx = await buildTestApp(t, {
  env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_TIMEOUT_MS: '1000', WEBHOOK_LEASE_MS: '2000' }
})
// The same database, with private addresses forbidden: what a production instance would do at delivery time.
const strict = await buildTestApp(t, { database: ctx.database, clock: ctx.clock, env: { WEBHOOK_TIMEOUT_MS: '1000' } })
const k = agreementKit(ctx)
const i = incidentKit(ctx, k)
const w = webhookKit(ctx)

async function arrange() {
  const [alice, bob] = await Promise.all([k.person('Alice'), k.person('Bob')])
  const { pid } = await k.partnership(alice, [bob])
  return { pid, alice, bob }
}
const verify = (secret: string, r: Received) => new Webhook(secret).verify(r.body, r.headers) as Record<string, any>
/** Runs the worker until nothing is due (the clock does not move). */
async function drain(app = ctx) {
  let total = 0
  for (;;) {
    const r = await deliverDue(app.deps)
    total += r.claimed
    if (r.claimed === 0) return total
  }
}

t.test('every event is delivered, signed, with ids and types only', async (t) => {
  const hooked = await receiver(t)
  const { pid, alice, bob } = await arrange()
  const hook = await w.created(alice, pid, hooked.url)
  const aid = await k.activeAgreement(alice, [bob], pid, incidentTerms())
  const SECRET_TEXT = 'Zq7 a private account of what happened'
  await i.reported(alice, pid, aid, i.reportBody(bob, { description: SECRET_TEXT }))
  await drain()
  const events = (await k.eventsAfter(alice, pid, 0)).filter((e) => e.seq >= 0)
  const after = events.filter((e) => e.seq >= events.find((x) => x.type === 'webhook.created')!.seq)
  t.equal(hooked.received.length, after.length, 'one delivery per event since the webhook was made')
  const payloads = hooked.received.map((r) => verify(hook.secret, r))
  t.same(
    payloads.map((p) => p.data.seq).sort((a, b) => a - b),
    after.map((e) => e.seq),
    'each event once (sent concurrently: in any order)'
  )
  const reported = payloads.find((p) => p.type === 'incident.reported')!
  const event = after.find((e) => e.type === 'incident.reported')!
  t.same(reported, {
    type: 'incident.reported',
    timestamp: event.at,
    data: {
      partnershipId: pid,
      seq: event.seq,
      eventType: 'incident.reported',
      subject: event.subject,
      actorId: alice.id
    }
  })
  for (const r of hooked.received) {
    t.notOk(r.body.includes('Zq7'), 'no free text in any delivery')
    t.equal(r.headers['user-agent'], 'Accord-Webhooks/1')
    t.equal(r.headers['content-type'], 'application/json')
    t.match(r.headers['webhook-id'], /^msg_[0-9a-f-]{36}$/)
  }
  const list = await w.deliveries(alice, pid, hook.id)
  t.ok(list.items.every((d) => d.status === 'delivered' && d.nextAttemptAt === null))
  t.match(list.items[0]!.attempts, [{ statusCode: 204, latencyMs: Number, error: null }])
  t.equal(await drain(), 0, 'nothing sent twice')
})

t.test('a receiver that fails, then recovers, gets each message once, retried with the same webhook-id', async (t) => {
  let failing = true
  const hooked = await receiver(t, () => (failing ? { status: 500, body: 'down' } : { status: 200 }))
  const { pid, alice } = await arrange()
  const hook = await w.created(alice, pid, hooked.url, ['partnership.updated'])
  await w.renamed(alice, pid, ['A', 'B', 'C'])
  t.equal((await deliverDue(ctx.deps)).retrying, 3, 'three failed attempts, each to be retried')
  t.equal((await deliverDue(ctx.deps)).claimed, 0, 'not due again at once')
  let list = await w.deliveries(alice, pid, hook.id)
  for (const d of list.items) {
    t.equal(d.status, 'pending')
    t.match(d.attempts, [{ statusCode: 500, error: null }])
    const wait = new Date(d.nextAttemptAt!).getTime() - new Date(d.attempts[0]!.at).getTime()
    t.ok(wait >= 4000 && wait <= 6000, `retried after 5 s ± 20 % (${wait} ms)`)
  }
  failing = false
  ctx.clock.advance(7000)
  t.equal((await deliverDue(ctx.deps)).delivered, 3)
  list = await w.deliveries(alice, pid, hook.id)
  t.ok(list.items.every((d) => d.status === 'delivered' && d.attempts.length === 2))
  const ids = hooked.received.map((r) => r.headers['webhook-id']!)
  t.equal(ids.length, 6)
  t.same(new Set(ids.slice(0, 3)), new Set(ids.slice(3)), 'the retries carry the first webhook-ids')
  const ok = hooked.received.slice(3)
  t.equal(new Set(ok.map((r) => r.headers['webhook-id'])).size, 3, 'each delivered successfully exactly once')
  for (const r of hooked.received) verify(hook.secret, r)

  t.test('a replay sends the same message again, with the same webhook-id', async (t) => {
    const d = list.items[0]!
    const res = await ctx.request({
      method: 'POST',
      url: `${w.webhooksUrl(pid)}/${hook.id}/deliveries/${d.id}/replay`,
      token: alice.token
    })
    t.equal(res.statusCode, 202)
    t.equal((await deliverDue(ctx.deps)).delivered, 1)
    const last = hooked.received.at(-1)!
    t.equal(last.headers['webhook-id'], `msg_${d.id}`)
    t.equal(verify(hook.secret, last).data.seq, d.eventSeq)
    const again = (await w.deliveries(alice, pid, hook.id)).items.find((x) => x.id === d.id)!
    t.equal(again.attempts.length, 3)
  })
})

t.test('a replay asked while an attempt is in flight still happens', async (t) => {
  const hooked = await receiver(t)
  const { pid, alice } = await arrange()
  const hook = await w.created(alice, pid, hooked.url, ['webhook.created'])
  const [claimed] = await claimDeliveries(ctx.deps, 10)
  t.equal(claimed!.delivery.webhookId, hook.id)
  const res = await ctx.request({
    method: 'POST',
    url: `${w.webhooksUrl(pid)}/${hook.id}/deliveries/${claimed!.delivery.id}/replay`,
    token: alice.token
  })
  t.equal(res.statusCode, 202)
  t.equal(await deliverOne(ctx.deps, claimed!), 'delivered', 'the attempt in flight succeeds')
  let [d] = (await w.deliveries(alice, pid, hook.id)).items
  t.equal(d!.status, 'pending', 'but the replay is still due')
  t.equal(d!.attempts.length, 1, 'the attempt is recorded')
  t.equal((await deliverDue(ctx.deps)).delivered, 1)
  ;[d] = (await w.deliveries(alice, pid, hook.id)).items
  t.match(d, { status: 'delivered', attempts: [{ statusCode: 204 }, { statusCode: 204 }] })
  t.equal(hooked.received.length, 2)
  t.equal(hooked.received[0]!.headers['webhook-id'], hooked.received[1]!.headers['webhook-id'])
})

t.test(
  'a group of successes is one statement, all or nothing; a group that fails is recorded one by one',
  async (t) => {
    const hooked = await receiver(t)
    const { pid, alice } = await arrange()
    const hook = await w.created(alice, pid, hooked.url, ['partnership.updated'])
    await drain()
    await w.renamed(alice, pid, ['A', 'B', 'C'])
    const claimed = await claimDeliveries(ctx.deps, 10)
    t.equal(claimed.length, 3)
    const success = (c: (typeof claimed)[number]) => ({
      id: randomUUID(),
      deliveryId: c.delivery.id,
      at: ctx.clock.now(),
      statusCode: 204,
      latencyMs: 3,
      claimedUntil: c.delivery.leaseUntil!
    })
    // A delivery that does not exist: its attempt row breaks the attempts' foreign key.
    const stray = { ...success(claimed[0]!), deliveryId: randomUUID() }
    await t.rejects(
      recordDelivered(ctx.deps.db, [...claimed.map(success), stray]),
      'one bad attempt fails the statement'
    )
    let list = await w.deliveries(alice, pid, hook.id)
    t.ok(
      list.items.every((d) => d.status === 'pending' && d.attempts.length === 0),
      'and nothing of it was written'
    )
    const successes = claimed.map(success)
    const outcomes = await Promise.allSettled([...successes, stray].map((a) => recordDeliveredGrouped(ctx.deps.db, a)))
    t.same(
      outcomes.map((o) => o.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'rejected'],
      'grouped: each attempt succeeds or fails as it would alone'
    )
    list = await w.deliveries(alice, pid, hook.id)
    t.equal(list.items.length, 3)
    for (const d of list.items)
      t.match(d, {
        status: 'delivered',
        nextAttemptAt: null,
        attempts: [{ statusCode: 204, latencyMs: 3, error: null }]
      })
    await recordDelivered(ctx.deps.db, successes)
    list = await w.deliveries(alice, pid, hook.id)
    t.ok(
      list.items.every((d) => d.attempts.length === 1),
      'a group written again (its commit lost on the way back) adds no second attempt'
    )
    t.equal(await drain(), 0, 'none is due again')
    t.equal(hooked.received.length, 0, 'recorded without being sent: this test sends nothing')
  }
)

t.test('after the last retry a delivery is failed', async (t) => {
  const hooked = await receiver(t, () => ({ status: 503 }))
  const { pid, alice } = await arrange()
  const hook = await w.created(alice, pid, hooked.url, ['webhook.created'])
  for (let n = 0; n < 8; n++) {
    await deliverDue(ctx.deps)
    ctx.clock.advance(12 * 3_600_000 + 1000) // past the longest delay (10 h + 20 %)
  }
  await k.refresh([alice])
  const [d] = (await w.deliveries(alice, pid, hook.id)).items
  t.equal(d!.status, 'failed')
  t.equal(d!.attempts.length, 8, 'the first try and 7 retries')
  t.equal(d!.nextAttemptAt, null)
  t.equal(hooked.received.length, 8)
})

t.test('a redirect is not followed: a failed attempt, recorded with its status', async (t) => {
  const target = await receiver(t)
  const hooked = await receiver(t, () => ({ status: 302, headers: { location: target.url } }))
  const { pid, alice } = await arrange()
  const hook = await w.created(alice, pid, hooked.url, ['webhook.created'])
  t.equal((await deliverDue(ctx.deps)).retrying, 1)
  t.equal(target.received.length, 0, 'the Location got nothing')
  const [d] = (await w.deliveries(alice, pid, hook.id)).items
  t.match(d!.attempts, [{ statusCode: 302, error: null }])
  t.equal(d!.status, 'pending')
})

t.test('a large answer is read to 4 KiB at most, and a silent receiver times out', async (t) => {
  // Answers 200, then streams 4 KiB every 10 ms for as long as the connection lasts.
  let closedEarly = false
  let sent = 0
  const big = await receiver(t, () => 'hang')
  big.server.removeAllListeners('request')
  big.server.on('request', (req, res) => {
    req.resume()
    req.on('end', () => {
      big.received.push({ headers: {}, body: '', at: Date.now() })
      res.writeHead(200, { 'content-type': 'text/plain' })
      const timer = setInterval(() => {
        sent += 4096
        res.write('x'.repeat(4096))
      }, 10)
      res.on('close', () => {
        clearInterval(timer)
        closedEarly = !res.writableFinished
      })
    })
  })
  const silent = await receiver(t, () => 'hang')
  const { pid, alice } = await arrange()
  const a = await w.created(alice, pid, big.url, ['partnership.updated'])
  const b = await w.created(alice, pid, silent.url, ['partnership.updated'])
  await ctx.request({
    method: 'PATCH',
    url: `/v1/partnerships/${pid}`,
    token: alice.token,
    headers: { 'if-match': '*' },
    body: { name: 'Big' }
  })
  const started = Date.now()
  const r = await deliverDue(ctx.deps)
  t.ok(Date.now() - started < 3000, 'the pass ends at the timeout')
  t.match(r, { claimed: 2, delivered: 1, retrying: 1 })
  const [da] = (await w.deliveries(alice, pid, a.id)).items
  t.match(da!.attempts, [{ statusCode: 200, error: null }])
  t.ok(da!.attempts[0]!.latencyMs < 900, 'not read to the timeout: cut after 4 KiB')
  await new Promise((r) => setTimeout(r, 50))
  t.ok(closedEarly, 'the connection was dropped while the receiver was still sending')
  t.ok(sent < 64 * 1024, `the receiver got to send ${sent} bytes only`)
  const [db] = (await w.deliveries(alice, pid, b.id)).items
  t.match(db!.attempts, [{ statusCode: null, error: /timed out after 1000 ms/ }])
  t.ok(db!.attempts[0]!.latencyMs >= 900)
})

t.test('an address refused at delivery time is never connected to', async (t) => {
  const hooked = await receiver(t)
  const { pid, alice } = await arrange()
  const hook = await w.created(alice, pid, hooked.url, ['webhook.created'])
  const r = await deliverDue(strict.deps)
  t.match(r, { claimed: 1, retrying: 1 })
  t.equal(hooked.received.length, 0, 'nothing reached 127.0.0.1')
  const [d] = (await w.deliveries(alice, pid, hook.id)).items
  t.match(d!.attempts, [{ statusCode: null, error: 'refused: 127.0.0.1 does not resolve to public addresses only' }])
})

t.test(
  'a name refused at delivery time: the same words whether it does not resolve or resolves privately',
  async (t) => {
    const { pid, alice } = await arrange()
    // Registered where private targets are allowed, delivered where they are not (a DNS change in between).
    const local = await w.created(alice, pid, 'http://localhost:9/hook', ['webhook.created'])
    const nowhere = await w.created(alice, pid, 'http://nowhere.invalid/hook', ['webhook.created'])
    await deliverDue(strict.deps)
    const errorOf = async (id: string) => (await w.deliveries(alice, pid, id)).items[0]!.attempts[0]!.error
    t.equal(await errorOf(local.id), 'refused: localhost does not resolve to public addresses only')
    t.equal(await errorOf(nowhere.id), 'refused: nowhere.invalid does not resolve to public addresses only')
  }
)

t.test('a connection refused is recorded as the error', async (t) => {
  const gone = await receiver(t)
  const url = gone.url
  gone.server.close()
  await new Promise((r) => setTimeout(r, 50))
  const { pid, alice } = await arrange()
  const hook = await w.created(alice, pid, url, ['webhook.created'])
  await deliverDue(ctx.deps)
  const [d] = (await w.deliveries(alice, pid, hook.id)).items
  t.match(d!.attempts, [{ statusCode: null, error: /ECONNREFUSED/ }])
})

t.test('a deleted webhook gets nothing more, pending deliveries included', async (t) => {
  const hooked = await receiver(t)
  const { pid, alice } = await arrange()
  const hook = await w.created(alice, pid, hooked.url)
  await ctx.request({ method: 'DELETE', url: `${w.webhooksUrl(pid)}/${hook.id}`, token: alice.token })
  t.equal((await deliverDue(ctx.deps)).claimed, 0)
  t.equal(hooked.received.length, 0)
})

t.test('a webhook failing for 5 days is disabled, with webhook.disabled, and gets nothing more', async (t) => {
  const hooked = await receiver(t, () => ({ status: 500 }))
  const witness = await receiver(t)
  const { pid, alice } = await arrange()
  const hook = await w.created(alice, pid, hooked.url)
  await w.created(alice, pid, witness.url, ['webhook.disabled'])
  const rename = (name: string) =>
    ctx.request({
      method: 'PATCH',
      url: `/v1/partnerships/${pid}`,
      token: alice.token,
      headers: { 'if-match': '*' },
      body: { name }
    })
  await deliverDue(ctx.deps)
  t.equal(hooked.received.length, 2, 'both webhook.created events, failed')
  for (let day = 1; day <= 5; day++) {
    ctx.clock.advance(86_400_000)
    await k.refresh([alice])
    await rename(`Day ${day}`)
    await deliverDue(ctx.deps)
  }
  const one = (await ctx.request({ method: 'GET', url: `${w.webhooksUrl(pid)}/${hook.id}`, token: alice.token })).json()
  t.equal(one.status, 'disabled')
  t.ok(one.disabledAt)
  const disabled = (await k.eventsAfter(alice, pid, 0)).filter((e) => e.type === 'webhook.disabled')
  t.equal(disabled.length, 1, 'appended once')
  t.match(disabled[0], { actorId: null, subject: { type: 'webhook', id: hook.id } })
  const count = hooked.received.length
  await rename('After')
  ctx.clock.advance(86_400_000)
  await k.refresh([alice])
  await drain()
  t.equal(hooked.received.length, count, 'no further attempts')
  t.ok(
    (await w.deliveries(alice, pid, hook.id)).items.every((d) => d.status !== 'pending'),
    'nothing left pending'
  )
  t.ok(
    witness.received.some((r) => JSON.parse(r.body).type === 'webhook.disabled'),
    'another webhook was told'
  )
  const replay = await ctx.request({
    method: 'POST',
    url: `${w.webhooksUrl(pid)}/${hook.id}/deliveries/${(await w.deliveries(alice, pid, hook.id)).items[0]!.id}/replay`,
    token: alice.token
  })
  t.equal(replay.statusCode, 409, 'a disabled webhook replays nothing')
})

t.test('a success clears the failing mark', async (t) => {
  let fail = true
  const hooked = await receiver(t, () => (fail ? { status: 500 } : { status: 200 }))
  const { pid, alice } = await arrange()
  const hook = await w.created(alice, pid, hooked.url, ['webhook.created'])
  await deliverDue(ctx.deps)
  let one = (await ctx.request({ method: 'GET', url: `${w.webhooksUrl(pid)}/${hook.id}`, token: alice.token })).json()
  t.ok(one.failingSince, 'failing')
  fail = false
  ctx.clock.advance(10_000)
  await deliverDue(ctx.deps)
  one = (await ctx.request({ method: 'GET', url: `${w.webhooksUrl(pid)}/${hook.id}`, token: alice.token })).json()
  t.equal(one.failingSince, null, 'healthy again')
})

t.test('metrics: the queue depth and the outcomes', async (t) => {
  const hooked = await receiver(t, () => ({ status: 500 }))
  const { pid, alice } = await arrange()
  await drain()
  const scrape = async () => (await ctx.request({ method: 'GET', url: '/metrics' })).body
  const sample = (body: string, line: string) =>
    Number(
      body
        .split('\n')
        .find((l) => l.startsWith(`${line} `))
        ?.split(' ')[1]
    )
  const retrying = sample(await scrape(), 'accord_webhook_deliveries_total{outcome="retrying"}')
  const hook = await w.created(alice, pid, hooked.url, ['webhook.created'])
  t.equal((await deliverDue(ctx.deps)).retrying, 1)
  const body = await scrape()
  t.equal(sample(body, 'accord_webhook_deliveries_total{outcome="retrying"}'), retrying + 1, 'the attempt counted')
  t.ok(Number.isFinite(sample(body, 'accord_webhook_deliveries_total{outcome="delivered"}')), 'every outcome shown')
  t.ok(sample(body, 'accord_webhook_queue_depth') >= 1, 'the retry waits: counted by the pass')
  await ctx.request({ method: 'DELETE', url: `${w.webhooksUrl(pid)}/${hook.id}`, token: alice.token })
  await deliverDue(ctx.deps)
  t.equal(sample(await scrape(), 'accord_webhook_queue_depth'), 0, 'none left')
})
