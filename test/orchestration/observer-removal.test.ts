import type { AddressInfo } from 'node:net'
import t from 'tap'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem } from '../helpers/problems.ts'
import { openStream } from '../helpers/sse.ts'

// Consent to an observer is revocable (SPEC §3.1: every partner must consent to an observer seeing intimate text):
// any one partner ends an observer's membership, and with it their access, at once.
const ctx = await buildTestApp(t)
await ctx.app.listen({ port: 0, host: '127.0.0.1' })
const origin = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
const k = agreementKit(ctx)
const remove = (by: { token: string }, pid: string, userId: string) =>
  ctx.request({ method: 'DELETE', url: `/v1/partnerships/${pid}/members/${userId}`, token: by.token })

t.test('a partner withdraws consent: the observer loses access at once, and the log says who did', async (t) => {
  const [alice, bob, olga] = await Promise.all([k.person('Alice'), k.person('Bob'), k.person('Olga')])
  const { pid } = await k.partnership(alice, [bob])
  const aid = await k.activeAgreement(alice, [bob], pid)
  await k.join(olga, pid, 'observer', alice, [alice, bob])
  t.equal((await k.agreement(olga, pid, aid)).body.id, aid, 'the observer reads the agreement')
  const following = await openStream(`${origin}/v1/partnerships/${pid}/events/stream`, {
    authorization: `Bearer ${olga.token}`
  })
  t.teardown(() => following.close())
  await following.until(() => following.retries.length > 0)
  const before = await k.headSeq(alice, pid)
  const res = await remove(bob, pid, olga.id)
  t.equal(res.statusCode, 204)
  await following.ended
  t.notOk(
    following.messages.some((m) => m.event === 'member.left'),
    'her live log ended, before it could show even her removal'
  )
  const appended = await k.eventsAfter(alice, pid, before)
  t.same(
    appended.map((e) => e.type),
    ['member.left']
  )
  t.match(appended[0], {
    actorId: bob.id,
    subject: { type: 'user', id: olga.id },
    data: { role: 'observer', reason: 'consent-withdrawn' }
  })
  for (const url of [
    `/v1/partnerships/${pid}`,
    `/v1/partnerships/${pid}/agreements/${aid}`,
    `/v1/partnerships/${pid}/events`
  ])
    isProblem(t, await ctx.request({ method: 'GET', url, token: olga.token }), 404, 'not-found', `${url}: gone for her`)
  const members = (
    await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/members`, token: alice.token })
  ).json()
  t.notOk(
    members.items.some((m: { userId: string }) => m.userId === olga.id),
    'no longer among the members'
  )
  const verify = await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/audit/verify`, token: alice.token })
  t.match(verify.json(), { valid: true }, 'the chain still verifies')
  isProblem(t, await remove(bob, pid, olga.id), 404, 'not-found', 'a second time: no such member')
})

t.test('who may remove whom: partners remove observers, and nobody else anybody', async (t) => {
  const [alice, bob, olga, otto, eve] = await Promise.all([
    k.person('Alice'),
    k.person('Bob'),
    k.person('Olga'),
    k.person('Otto'),
    k.person('Eve')
  ])
  const { pid } = await k.partnership(alice, [bob])
  await k.join(olga, pid, 'observer', alice, [alice, bob])
  await k.join(otto, pid, 'observer', alice, [alice, bob])
  const head = await k.headSeq(alice, pid)
  isProblem(t, await remove(olga, pid, otto.id), 403, 'forbidden', 'an observer cannot remove another')
  isProblem(t, await remove(alice, pid, bob.id), 403, 'forbidden', 'a partner cannot remove a partner')
  isProblem(t, await remove(olga, pid, alice.id), 403, 'forbidden', 'an observer cannot remove a partner')
  isProblem(t, await remove(eve, pid, olga.id), 404, 'not-found', 'a stranger learns nothing')
  isProblem(t, await remove(alice, pid, eve.id), 404, 'not-found', 'a user who is no member')
  const readOnly = await k.scoped(alice, 'partnerships:read')
  isProblem(t, await remove({ token: readOnly }, pid, olga.id), 403, 'insufficient-scope')
  const bad = await ctx.request({ method: 'DELETE', url: `/v1/partnerships/${pid}/members/nobody`, token: alice.token })
  isProblem(t, bad, 400, 'validation-failed', 'an id that is no UUID')
  t.equal(await k.headSeq(alice, pid), head, 'none of these changed anything')
  t.equal((await remove(alice, pid, otto.id)).statusCode, 204, 'the other partner may too')
})

t.test('in a dissolved partnership too: its history is intimate as well', async (t) => {
  const [alice, bob, olga] = await Promise.all([k.person('Alice'), k.person('Bob'), k.person('Olga')])
  const { pid } = await k.partnership(alice, [bob])
  await k.join(olga, pid, 'observer', alice, [alice, bob])
  await k.leave(bob, pid)
  t.equal((await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}`, token: olga.token })).statusCode, 200)
  t.equal((await remove(alice, pid, olga.id)).statusCode, 204)
  isProblem(
    t,
    await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/events`, token: olga.token }),
    404,
    'not-found'
  )
})
