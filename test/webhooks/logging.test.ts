import t from 'tap'
import { deliverDue } from '../../src/webhooks/delivery.service.ts'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { receiver, webhookKit } from '../helpers/webhooks.ts'

// Class: a webhook's signing secret reaching the logs, on creation (its only answer), on every read, on
// refusals, and while its deliveries are sent and fail. No log line may contain it.
const ctx = await buildTestApp(t, { captureLogs: true, env: { WEBHOOK_ALLOW_PRIVATE: 'true' } })
const k = agreementKit(ctx)
const w = webhookKit(ctx)

t.test('the secret of a webhook is never logged', async (t) => {
  const hooked = await receiver(t, (_r, n) => (n === 1 ? { status: 500, body: 'nope' } : { status: 200 }))
  const [alice, bob] = await Promise.all([k.person('Alice'), k.person('Bob')])
  const { pid } = await k.partnership(alice, [bob])
  const start = ctx.logs.length
  const hook = await w.created(alice, pid, hooked.url)
  const secret = hook.secret.slice('whsec_'.length)
  for (const url of [
    w.webhooksUrl(pid),
    `${w.webhooksUrl(pid)}/${hook.id}`,
    `${w.webhooksUrl(pid)}/${hook.id}/deliveries`
  ])
    t.equal((await ctx.request({ method: 'GET', url, token: bob.token })).statusCode, 200)
  // A refusal that echoes what was sent: the secret as a field of the body.
  const refused = await w.create(alice, pid, { url: hooked.url, eventTypes: ['*'], secret: hook.secret })
  t.equal(refused.statusCode, 400)
  await deliverDue(ctx.deps)
  ctx.clock.advance(10_000)
  await deliverDue(ctx.deps)
  t.ok(hooked.received.length >= 2, 'deliveries were sent, and one failed')
  const lines = ctx.logs.slice(start)
  t.ok(lines.length > 5, `the app logged (${lines.length} lines)`)
  t.same(
    lines.filter((l) => l.includes(secret) || l.includes(hook.secret)),
    [],
    'no line holds the secret'
  )
  t.ok(
    hooked.received.every((r) => !r.body.includes(secret) && !JSON.stringify(r.headers).includes(secret)),
    'nor does any delivery carry it'
  )
})
