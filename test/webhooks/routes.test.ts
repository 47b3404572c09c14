import t from 'tap'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { webhookKit } from '../helpers/webhooks.ts'

const ctx = await buildTestApp(t, { env: { WEBHOOK_ALLOW_PRIVATE: 'true' } })
const strict = await buildTestApp(t, { database: ctx.database, clock: ctx.clock })
const k = agreementKit(ctx)
const w = webhookKit(ctx)
const HOOK = 'http://127.0.0.1:9/hook'

async function arrange() {
  const [alice, bob, olga] = await Promise.all([k.person('Alice'), k.person('Bob'), k.person('Olga')])
  const { pid } = await k.partnership(alice, [bob], [olga])
  return { pid, alice, bob, olga }
}

t.test('POST …/webhooks', async (t) => {
  const { pid, alice, bob } = await arrange()
  const res = await w.create(alice, pid, { url: HOOK, eventTypes: ['incident.reported', 'version.signed'] })
  t.equal(res.statusCode, 201)
  const hook = res.json()
  t.match(hook, {
    id: String,
    partnershipId: pid,
    url: HOOK,
    eventTypes: ['incident.reported', 'version.signed'],
    status: 'active',
    createdBy: alice.id,
    failingSince: null,
    disabledAt: null
  })
  t.match(hook.secret, /^whsec_[A-Za-z0-9+/]{43}=$/, 'a whsec_ secret of 32 random bytes')
  t.equal(Buffer.from(hook.secret.slice(6), 'base64').length, 32)
  t.equal(res.headers.location, `/v1/partnerships/${pid}/webhooks/${hook.id}`)

  t.test('the secret is shown once: never in a GET', async (t) => {
    const one = await ctx.request({ method: 'GET', url: `${w.webhooksUrl(pid)}/${hook.id}`, token: bob.token })
    t.equal(one.statusCode, 200)
    t.notOk('secret' in one.json())
    const list = await ctx.request({ method: 'GET', url: w.webhooksUrl(pid), token: bob.token })
    t.equal(list.statusCode, 200)
    t.same(
      list.json().items.map((x: { id: string }) => x.id),
      [hook.id]
    )
    t.notOk(list.body.includes(hook.secret.slice(6)), 'no secret in the list')
  })

  t.test('webhook.created is appended with the id and types only, no URL nor secret', async (t) => {
    const events = await k.eventsAfter(alice, pid, 0)
    const created = events.find((e) => e.type === 'webhook.created')!
    t.match(created, { actorId: alice.id, subject: { type: 'webhook', id: hook.id } })
    t.same(created.data, { eventTypes: ['incident.reported', 'version.signed'] })
    t.notOk(JSON.stringify(created).includes('127.0.0.1'), 'no URL')
    t.notOk(JSON.stringify(created).includes(hook.secret.slice(6)), 'no secret')
  })
})

t.test('GET …/webhooks pages through them', async (t) => {
  const { pid, alice } = await arrange()
  const ids: string[] = []
  for (let i = 0; i < 3; i++) ids.push((await w.created(alice, pid, HOOK)).id)
  const first = (await ctx.request({ method: 'GET', url: `${w.webhooksUrl(pid)}?limit=2`, token: alice.token })).json()
  t.equal(first.items.length, 2)
  t.ok(first.nextCursor)
  const second = (
    await ctx.request({
      method: 'GET',
      url: `${w.webhooksUrl(pid)}?limit=2&cursor=${first.nextCursor}`,
      token: alice.token
    })
  ).json()
  t.same([...first.items, ...second.items].map((x: { id: string }) => x.id).sort(), ids.sort())
  t.equal(second.nextCursor, null)
})

t.test('DELETE …/webhooks/{wid}', async (t) => {
  const { pid, alice, bob } = await arrange()
  const hook = await w.created(alice, pid, HOOK)
  const res = await ctx.request({ method: 'DELETE', url: `${w.webhooksUrl(pid)}/${hook.id}`, token: bob.token })
  t.equal(res.statusCode, 204)
  const again = await ctx.request({ method: 'DELETE', url: `${w.webhooksUrl(pid)}/${hook.id}`, token: bob.token })
  t.equal(again.statusCode, 404, 'gone')
  const get = await ctx.request({ method: 'GET', url: `${w.webhooksUrl(pid)}/${hook.id}`, token: bob.token })
  t.equal(get.statusCode, 404)
  const events = await k.eventsAfter(alice, pid, 0)
  const deleted = events.find((e) => e.type === 'webhook.deleted')!
  t.match(deleted, { actorId: bob.id, subject: { type: 'webhook', id: hook.id }, data: {} })
  t.notOk(JSON.stringify(deleted).includes('127.0.0.1'))
})

t.test('deliveries are listed newest first and replayed', async (t) => {
  const { pid, alice } = await arrange()
  const hook = await w.created(alice, pid, HOOK)
  // webhook.created of itself, then two renames: three deliveries, pending
  await w.renamed(alice, pid, ['One', 'Two'])
  const page = await w.deliveries(alice, pid, hook.id, '?limit=2')
  t.same(
    page.items.map((d) => d.eventType),
    ['partnership.updated', 'partnership.updated']
  )
  t.ok(page.items[0]!.eventSeq > page.items[1]!.eventSeq, 'newest first')
  t.match(page.items[0], { status: 'pending', attempts: [], nextAttemptAt: String })
  const rest = await w.deliveries(alice, pid, hook.id, `?limit=2&cursor=${page.nextCursor}`)
  t.same(
    rest.items.map((d) => d.eventType),
    ['webhook.created']
  )
  t.equal(rest.nextCursor, null)

  const did = rest.items[0]!.id
  const replay = await ctx.request({
    method: 'POST',
    url: `${w.webhooksUrl(pid)}/${hook.id}/deliveries/${did}/replay`,
    token: alice.token
  })
  t.equal(replay.statusCode, 202)
  t.match(replay.json(), { id: did, status: 'pending', eventType: 'webhook.created' })
  const unknown = await ctx.request({
    method: 'POST',
    url: `${w.webhooksUrl(pid)}/${hook.id}/deliveries/${hook.id}/replay`,
    token: alice.token
  })
  t.equal(unknown.statusCode, 404)
})

t.test('refused bodies, each a problem that says why', async (t) => {
  const { pid, alice } = await arrange()
  const cases: Array<[string, unknown, number, string]> = [
    ['not a URL', { url: 'not a url', eventTypes: ['*'] }, 400, 'webhook-url-not-allowed'],
    ['ftp', { url: 'ftp://example.com/x', eventTypes: ['*'] }, 400, 'webhook-url-not-allowed'],
    ['credentials', { url: 'https://u:p@example.com/x', eventTypes: ['*'] }, 400, 'webhook-url-not-allowed'],
    ['unknown event type', { url: HOOK, eventTypes: ['incident.eaten'] }, 400, 'validation-failed'],
    ['no event type', { url: HOOK, eventTypes: [] }, 400, 'validation-failed'],
    ['a duplicate', { url: HOOK, eventTypes: ['member.left', 'member.left'] }, 400, 'validation-failed'],
    ['* with others', { url: HOOK, eventTypes: ['*', 'member.left'] }, 400, 'validation-failed'],
    ['an unknown field', { url: HOOK, eventTypes: ['*'], secret: 'mine' }, 400, 'validation-failed'],
    ['no url', { eventTypes: ['*'] }, 400, 'validation-failed']
  ]
  for (const [what, body, status, code] of cases) {
    const res = await w.create(alice, pid, body)
    t.equal(res.statusCode, status, what)
    t.equal(res.json().code, code, what)
  }

  t.test('without WEBHOOK_ALLOW_PRIVATE: http and private addresses are refused', async (t) => {
    const refused = [
      'http://example.com/hook',
      'https://127.0.0.1/hook',
      'https://10.1.2.3/hook',
      'https://169.254.169.254/latest',
      'https://[::1]/hook',
      'https://[::ffff:127.0.0.1]/hook',
      'https://[fd00::1]/hook',
      'https://100.64.0.1/hook',
      'https://localhost/hook'
    ]
    for (const url of refused) {
      const res = await strict.request({
        method: 'POST',
        url: w.webhooksUrl(pid),
        token: alice.token,
        body: { url, eventTypes: ['*'] }
      })
      t.equal(res.statusCode, 400, url)
      t.equal(res.json().code, 'webhook-url-not-allowed', url)
      t.match(res.json().errors, [{ in: 'body', path: '/url' }], url)
    }
    const local = await strict.request({
      method: 'POST',
      url: w.webhooksUrl(pid),
      token: alice.token,
      body: { url: 'https://127.0.0.1/hook', eventTypes: ['*'] }
    })
    t.match(local.json().detail, /private, loopback or link-local/)
    // A name: refused alike whether it does not resolve or resolves to a private address, the address unnamed.
    const byName = async (url: string) =>
      (
        await strict.request({
          method: 'POST',
          url: w.webhooksUrl(pid),
          token: alice.token,
          body: { url, eventTypes: ['*'] }
        })
      ).json()
    const [loopback, nowhere] = [await byName('https://localhost/hook'), await byName('https://nowhere.invalid/hook')]
    t.equal(loopback.detail, 'localhost does not resolve to public addresses only: webhooks call public addresses only')
    t.equal(
      nowhere.detail,
      'nowhere.invalid does not resolve to public addresses only: webhooks call public addresses only'
    )
    t.notMatch(
      JSON.stringify([loopback.detail, loopback.errors]),
      /127\.0\.0\.1|::1/,
      "the server's own resolution is not told"
    )
    // A stranger's URL is never vetted (nor looked up): 404 before anything else.
    const eve = await k.person('Eve')
    for (const url of ['https://localhost/hook', 'https://127.0.0.1/hook', 'http://example.com/hook']) {
      const res = await strict.request({
        method: 'POST',
        url: w.webhooksUrl(pid),
        token: eve.token,
        body: { url, eventTypes: ['*'] }
      })
      t.equal(res.statusCode, 404, `a stranger registering ${url} gets 404`)
    }
    const publicIp = await strict.request({
      method: 'POST',
      url: w.webhooksUrl(pid),
      token: alice.token,
      body: { url: 'https://93.184.215.14/hook', eventTypes: ['*'] }
    })
    t.equal(publicIp.statusCode, 201, 'a public address is fine')
  })

  t.test('at most 10 webhooks per partnership', async (t) => {
    const { pid, alice } = await arrange()
    for (let i = 0; i < 10; i++) await w.created(alice, pid, HOOK)
    const res = await w.create(alice, pid, { url: HOOK, eventTypes: ['*'] })
    t.equal(res.statusCode, 409)
    t.equal(res.json().code, 'too-many-webhooks')
  })
})

t.test('who may: partners only, with webhooks:manage; others learn nothing', async (t) => {
  const { pid, alice, bob, olga } = await arrange()
  const hook = await w.created(alice, pid, HOOK)
  const [eve, lea] = await Promise.all([k.person('Eve'), k.person('Lea')])
  await k.join(lea, pid, 'partner', alice)
  await k.leave(lea, pid)
  const did = (await w.deliveries(alice, pid, hook.id)).items[0]!.id
  const routes: Array<[string, string, unknown?]> = [
    ['POST', w.webhooksUrl(pid), { url: HOOK, eventTypes: ['*'] }],
    ['GET', w.webhooksUrl(pid)],
    ['GET', `${w.webhooksUrl(pid)}/${hook.id}`],
    ['GET', `${w.webhooksUrl(pid)}/${hook.id}/deliveries`],
    ['POST', `${w.webhooksUrl(pid)}/${hook.id}/deliveries/${did}/replay`],
    ['DELETE', `${w.webhooksUrl(pid)}/${hook.id}`]
  ]
  const wrongScope = await k.scoped(bob, 'partnerships:write agreements:read')
  for (const [method, url, body] of routes) {
    const as = (token: string) => ctx.request({ method: method as 'GET', url, token, body })
    t.equal((await as(eve.token)).statusCode, 404, `${method} ${url}: a stranger gets 404`)
    t.equal((await as(lea.token)).statusCode, 404, `${method} ${url}: a member who left gets 404`)
    t.equal((await as(olga.token)).statusCode, 403, `${method} ${url}: an observer gets 403`)
    const scoped = await as(wrongScope)
    t.equal(scoped.statusCode, 403, `${method} ${url}: a token without webhooks:manage gets 403`)
    t.equal(scoped.json().code, 'insufficient-scope')
  }
  const withScope = await k.scoped(bob, 'webhooks:manage')
  t.equal(
    (await ctx.request({ method: 'GET', url: w.webhooksUrl(pid), token: withScope })).statusCode,
    200,
    'webhooks:manage is enough'
  )
})
