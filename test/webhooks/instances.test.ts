import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import t from 'tap'
import { deliverDue } from '../../src/webhooks/delivery.service.ts'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp, freshPostgresUrl, onPostgres, postgresEnv } from '../helpers/app.ts'
import { bootServer, request } from '../helpers/process.ts'
import { receiver, webhookKit } from '../helpers/webhooks.ts'

// Several processes on one database: PostgreSQL only (PGlite is one process's embedded database).
if (!onPostgres) {
  t.pass('PostgreSQL only: run with TEST_DATABASE_URL')
} else {
  const url = await freshPostgresUrl(t)
  // Instances of one database share its key-encryption key (without one each process would make its own).
  const SECRET_KEY = randomBytes(32).toString('base64')
  const env = { WEBHOOK_ALLOW_PRIVATE: 'true', SECRET_KEY }

  t.test('two instances delivering at once send each message once (SKIP LOCKED and leases)', async (t) => {
    const a = await buildTestApp(t, { databaseUrl: url, env })
    const b = await buildTestApp(t, { databaseUrl: url, env, clock: a.clock })
    const k = agreementKit(a)
    const w = webhookKit(a)
    const hooked = await receiver(t)
    const [alice, bob] = await Promise.all([k.person('Alice'), k.person('Bob')])
    const { pid } = await k.partnership(alice, [bob])
    const hook = await w.created(alice, pid, hooked.url)
    await w.created(alice, pid, hooked.url)
    for (let n = 0; n < 40; n++)
      await a.request({
        method: 'PATCH',
        url: `/v1/partnerships/${pid}`,
        token: alice.token,
        headers: { 'if-match': '*' },
        body: { name: `Name ${n}` }
      })
    const run = async (app: typeof a) => {
      let claimed = 0
      for (;;) {
        const r = await deliverDue(app.deps, 7)
        claimed += r.claimed
        if (r.claimed === 0) return claimed
      }
    }
    const [byA, byB] = await Promise.all([run(a), run(b)])
    t.ok(byA > 0 && byB > 0, `both instances worked (${byA} and ${byB})`)
    const ids = hooked.received.map((r) => r.headers['webhook-id'])
    t.equal(ids.length, byA + byB, 'every claim sent once')
    t.equal(new Set(ids).size, ids.length, 'no message sent twice')
    t.equal(ids.length, 42 + 41, 'the first webhook: both creations and 40 renames; the second: its own creation on')
    const own = hooked.received.filter((r) => {
      try {
        new Webhook(hook.secret).verify(r.body, r.headers)
        return true
      } catch {
        return false
      }
    })
    t.equal(own.length, 42, "the first webhook's messages verify with its secret")
  })

  t.test('a delivery in flight when its instance is killed (-9) is sent again after the lease, not lost', async (t) => {
    const first = new Set<string>()
    let held = 0
    const hooked = await receiver(t, (r) => {
      // The first request of each message is held open: the instance is killed while it waits.
      const id = r.headers['webhook-id']!
      if (!first.has(id)) {
        first.add(id)
        held++
        return 'hang'
      }
      return { status: 200 }
    })
    const serverEnv = {
      ...postgresEnv(url),
      // One issuer for both processes (it is the public URL): the token outlives the first.
      PUBLIC_URL: 'http://accord.kill.test',
      SECRET_KEY,
      NODE_ENV: 'development',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_WORKER_INTERVAL_MS: '100',
      WEBHOOK_TIMEOUT_MS: '5000',
      WEBHOOK_LEASE_MS: '6000',
      SCHEDULER_INTERVAL_MS: '0',
      LOG_LEVEL: 'warn'
    }
    const one = await bootServer(t, serverEnv)
    const ready = async (port: number) => {
      for (let n = 0; n < 600; n++) {
        try {
          if ((await request(port, { path: '/readyz' })).status === 200) return
        } catch {}
        await new Promise((r) => setTimeout(r, 100))
      }
      throw new Error('not ready')
    }
    await ready(one.port)
    const token = (
      await request(one.port, { method: 'POST', path: '/v1/dev/tokens', body: { sub: 'kill-alice' } })
    ).json().accessToken as string
    const auth = { authorization: `Bearer ${token}` }
    const pid = (
      await request(one.port, {
        method: 'POST',
        path: '/v1/partnerships',
        headers: auth,
        body: { name: 'Killed', timezone: 'UTC' }
      })
    ).json().id as string
    const created = await request(one.port, {
      method: 'POST',
      path: `/v1/partnerships/${pid}/webhooks`,
      headers: auth,
      body: { url: hooked.url, eventTypes: ['webhook.created'] }
    })
    t.equal(created.status, 201)
    const wid = created.json().id as string
    for (let n = 0; n < 100 && held === 0; n++) await new Promise((r) => setTimeout(r, 100))
    t.equal(held, 1, 'the first attempt reached the receiver, which holds it')
    one.child.kill('SIGKILL')
    await one.exit()

    const two = await bootServer(t, serverEnv)
    await ready(two.port)
    for (let n = 0; n < 150 && hooked.received.length < 2; n++) await new Promise((r) => setTimeout(r, 100))
    t.equal(hooked.received.length, 2, 'sent again by the restarted instance once the lease ran out')
    t.equal(hooked.received[1]!.headers['webhook-id'], hooked.received[0]!.headers['webhook-id'], 'the same webhook-id')
    let delivery: any
    for (let n = 0; n < 50; n++) {
      const res = await request(two.port, {
        path: `/v1/partnerships/${pid}/webhooks/${wid}/deliveries`,
        headers: auth
      })
      if (res.status !== 200) throw new Error(`deliveries: ${res.status} ${res.body}`)
      delivery = res.json().items[0]
      if (delivery.status === 'delivered') break
      await new Promise((r) => setTimeout(r, 100))
    }
    t.equal(delivery.status, 'delivered', 'then marked delivered')
    t.match(delivery.attempts, [{ statusCode: 200 }], 'the attempt cut by the kill left no record; the retry did')
    two.child.kill('SIGTERM')
    await two.exit()
  })
}
