import t from 'tap'
import { hashEvent } from '../../src/audit/event.rules.ts'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem } from '../helpers/problems.ts'

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)

// The story walks the partnership and invitation routes themselves: only the people come from the kit.
t.test('a partnership from creation to dissolution', async (t) => {
  const [alice, bob, counselor] = [await k.person('Alice'), await k.person('Bob'), await k.person('Dr Lee')]

  // Alice creates the partnership.
  const created = await ctx.request({
    method: 'POST',
    url: '/v1/partnerships',
    token: alice.token,
    body: { name: 'Alice & Bob', timezone: 'Europe/Paris' }
  })
  t.equal(created.statusCode, 201)
  const p = created.json()
  t.equal(created.headers.location, `/v1/partnerships/${p.id}`)
  t.match(p, {
    name: 'Alice & Bob',
    timezone: 'Europe/Paris',
    status: 'active',
    dissolvedAt: null,
    members: [{ userId: alice.id, role: 'partner', displayName: 'Alice' }]
  })
  const base = `/v1/partnerships/${p.id}`

  // Alice invites Bob; the token is shown once.
  const inv = await ctx.request({
    method: 'POST',
    url: `${base}/invitations`,
    token: alice.token,
    body: { role: 'partner' }
  })
  t.equal(inv.statusCode, 201)
  const invitation = inv.json()
  t.match(invitation.token, /^acc_inv_[A-Za-z0-9_-]{43}$/)
  t.equal(invitation.status, 'pending')
  t.equal(inv.headers.location, `${base}/invitations/${invitation.id}`)
  const listed = await ctx.request({ method: 'GET', url: `${base}/invitations`, token: alice.token })
  t.notMatch(listed.body, invitation.token, 'the token never appears again')
  t.notOk(listed.json().items[0].token)
  t.notMatch(
    (await ctx.request({ method: 'GET', url: `${base}/invitations/${invitation.id}`, token: alice.token })).body,
    invitation.token
  )

  // Bob cannot see the partnership before joining.
  t.equal((await ctx.request({ method: 'GET', url: base, token: bob.token })).statusCode, 404)
  const joined = await ctx.request({
    method: 'POST',
    url: '/v1/invitations/accept',
    token: bob.token,
    body: { token: invitation.token }
  })
  t.equal(joined.statusCode, 201)
  t.same(joined.json(), { partnershipId: p.id, role: 'partner' })
  t.equal((await ctx.request({ method: 'GET', url: base, token: bob.token })).json().members.length, 2)
  isProblem(
    t,
    await ctx.request({
      method: 'POST',
      url: '/v1/invitations/accept',
      token: bob.token,
      body: { token: invitation.token }
    }),
    410,
    'invitation-used',
    'accepting twice'
  )

  // Alice invites a counselor as observer: it needs both partners' approval.
  const obs = (
    await ctx.request({ method: 'POST', url: `${base}/invitations`, token: alice.token, body: { role: 'observer' } })
  ).json()
  t.same(obs.pendingApprovals.sort(), [alice.id, bob.id].sort())
  isProblem(
    t,
    await ctx.request({
      method: 'POST',
      url: '/v1/invitations/accept',
      token: counselor.token,
      body: { token: obs.token }
    }),
    409,
    'invitation-not-approved',
    'accepting before any approval'
  )
  const approvedOnce = await ctx.request({
    method: 'POST',
    url: `${base}/invitations/${obs.id}/approvals`,
    token: alice.token
  })
  t.equal(approvedOnce.statusCode, 201)
  t.same(approvedOnce.json().pendingApprovals, [bob.id])
  isProblem(
    t,
    await ctx.request({ method: 'POST', url: `${base}/invitations/${obs.id}/approvals`, token: alice.token }),
    409,
    'already-approved',
    'approving twice'
  )
  isProblem(
    t,
    await ctx.request({
      method: 'POST',
      url: '/v1/invitations/accept',
      token: counselor.token,
      body: { token: obs.token }
    }),
    409,
    'invitation-not-approved',
    'accepting with one approval of two'
  )
  t.same(
    (await ctx.request({ method: 'POST', url: `${base}/invitations/${obs.id}/approvals`, token: bob.token })).json()
      .pendingApprovals,
    []
  )
  const obsJoined = await ctx.request({
    method: 'POST',
    url: '/v1/invitations/accept',
    token: counselor.token,
    body: { token: obs.token }
  })
  t.equal(obsJoined.statusCode, 201)
  t.equal(obsJoined.json().role, 'observer')

  // The counselor reads everything but writes nothing.
  const seen = await ctx.request({ method: 'GET', url: base, token: counselor.token })
  t.equal(seen.statusCode, 200)
  t.same(
    seen.json().members.map((m: { userId: string }) => m.userId),
    [alice.id, bob.id, counselor.id]
  )
  t.equal((await ctx.request({ method: 'GET', url: `${base}/events`, token: counselor.token })).statusCode, 200)
  const rename = await ctx.request({
    method: 'PATCH',
    url: base,
    token: counselor.token,
    headers: { 'if-match': seen.headers.etag as string },
    body: { name: 'Hijacked' }
  })
  isProblem(t, rename, 403, 'observer-read-only', 'an observer renames')
  t.equal(
    (
      await ctx.request({
        method: 'POST',
        url: `${base}/invitations`,
        token: counselor.token,
        body: { role: 'partner' }
      })
    ).statusCode,
    403
  )

  // Partners rename with If-Match.
  const renamed = await ctx.request({
    method: 'PATCH',
    url: base,
    token: bob.token,
    headers: { 'if-match': seen.headers.etag as string },
    body: { name: 'Us' }
  })
  t.equal(renamed.statusCode, 200)
  t.equal(renamed.json().name, 'Us')

  // Bob leaves: at once, alone; the partnership dissolves (one partner left).
  const left = await ctx.request({ method: 'DELETE', url: `${base}/members/me`, token: bob.token })
  t.equal(left.statusCode, 204)
  t.equal(
    (await ctx.request({ method: 'GET', url: base, token: bob.token })).statusCode,
    404,
    'Bob lost access at once, with a still-valid token'
  )
  const after = await ctx.request({ method: 'GET', url: base, token: alice.token })
  t.match(after.json(), { status: 'dissolved', name: 'Us' })
  t.ok(after.json().dissolvedAt)
  const write = await ctx.request({
    method: 'PATCH',
    url: base,
    token: alice.token,
    headers: { 'if-match': after.headers.etag as string },
    body: { name: 'Again' }
  })
  isProblem(t, write, 409, 'partnership-dissolved', 'renaming a dissolved partnership')
  isProblem(
    t,
    await ctx.request({ method: 'POST', url: `${base}/invitations`, token: alice.token, body: { role: 'partner' } }),
    409,
    'partnership-dissolved',
    'inviting to a dissolved partnership'
  )
  t.equal(
    (await ctx.request({ method: 'DELETE', url: `${base}/members/me`, token: counselor.token })).statusCode,
    204,
    'anyone may still leave'
  )

  // The log tells the whole story, and a client can verify it from the list alone.
  const events = (await ctx.request({ method: 'GET', url: `${base}/events?limit=100`, token: alice.token })).json()
    .items
  t.same(
    events.map((e: { type: string }) => e.type),
    [
      'partnership.created',
      'member.joined',
      'invitation.created',
      'member.joined',
      'invitation.created',
      'invitation.approved',
      'invitation.approved',
      'member.joined',
      'partnership.updated',
      'member.left',
      'partnership.dissolved',
      'member.left'
    ]
  )
  let prev: string | null = null
  for (const [i, e] of events.entries()) {
    t.equal(e.seq, i + 1)
    t.equal(e.prevHash, prev)
    const { hash, ...rest } = e
    t.equal(hashEvent(rest), hash, `event ${e.seq} hash recomputes`)
    prev = hash
  }
  t.notMatch(JSON.stringify(events), /acc_inv_/, 'no token in the log')
  t.match((await ctx.request({ method: 'GET', url: `${base}/audit/verify`, token: alice.token })).json(), {
    valid: true,
    eventCount: 12,
    head: { seq: 12, hash: prev },
    firstBrokenSeq: null
  })

  // Alice's list shows it; Bob's does not.
  t.equal((await ctx.request({ method: 'GET', url: '/v1/partnerships', token: alice.token })).json().items.length, 1)
  t.equal((await ctx.request({ method: 'GET', url: '/v1/partnerships', token: bob.token })).json().items.length, 0)
})
