import { randomBytes, randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import t from 'tap'
import { secretHash } from '../../src/lib/hash.ts'
import { agreementKit, type Person } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isInvalid, isProblem } from '../helpers/problems.ts'

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)

const DAY = 24 * 3600_000

// The requests under test, sent as they are (the kit's invite, approve and accept insist on success).
const invite = (by: Person, base: string, body: unknown = { role: 'partner' }, headers: Record<string, string> = {}) =>
  ctx.request({ method: 'POST', url: `${base}/invitations`, token: by.token, body, headers })
const accept = (who: Person, token: string) =>
  ctx.request({ method: 'POST', url: '/v1/invitations/accept', token: who.token, body: { token } })
const approve = (who: Person, base: string, iid: string) =>
  ctx.request({ method: 'POST', url: `${base}/invitations/${iid}/approvals`, token: who.token })
const revoke = (who: Person, base: string, iid: string) =>
  ctx.request({ method: 'DELETE', url: `${base}/invitations/${iid}`, token: who.token })

const invitations = async (who: Person, base: string): Promise<Array<{ id: string; status: string }>> =>
  (await ctx.request({ method: 'GET', url: `${base}/invitations?limit=100`, token: who.token })).json().items
const roles = async (who: Person, base: string): Promise<string[]> =>
  (await ctx.request({ method: 'GET', url: `${base}/members`, token: who.token }))
    .json()
    .items.map((m: { role: string }) => m.role)

/** A pending invitation written straight to the database, past the rules of POST …/invitations. */
async function smuggledInvitation(
  partnershipId: string,
  createdBy: string,
  role: 'partner' | 'observer'
): Promise<{ id: string; token: string }> {
  const token = `acc_inv_${randomBytes(32).toString('base64url')}`
  const id = randomUUID()
  const now = ctx.clock.now()
  await ctx.database.rows(sql`insert into invitations (id, partnership_id, role, token_hash, status, created_by, created_at, expires_at)
    values (${id}, ${partnershipId}, ${role}, ${secretHash(token)}, 'pending', ${createdBy}, ${now.toISOString()}::timestamptz, ${new Date(now.getTime() + DAY).toISOString()}::timestamptz)`)
  return { id, token }
}

t.test('accepting an invitation', async (t) => {
  t.test('an unknown token is 404 not-found', async (t) => {
    const eve = await k.person('Eve')
    isProblem(t, await accept(eve, `acc_inv_${randomBytes(32).toString('base64url')}`), 404, 'not-found')
    isProblem(t, await accept(eve, 'not-even-a-token'), 404, 'not-found')
  })

  t.test('a used token is 410 invitation-used, even for someone else', async (t) => {
    const { alice, pid, url: base } = await k.couple()
    const carol = await k.person('Carol')
    const inv = await k.invite(alice, pid, 'partner')
    t.equal((await accept(carol, inv.token)).statusCode, 201)
    const dan = await k.person('Dan')
    isProblem(t, await accept(dan, inv.token), 410, 'invitation-used')
    t.same(await roles(alice, base), ['partner', 'partner', 'partner'], 'Dan did not join')
  })

  t.test('a revoked token is 410 invitation-revoked', async (t) => {
    const { alice, pid, url: base } = await k.couple()
    const inv = await k.invite(alice, pid, 'partner')
    t.equal((await revoke(alice, base, inv.id)).statusCode, 204)
    const carol = await k.person('Carol')
    isProblem(t, await accept(carol, inv.token), 410, 'invitation-revoked')
    t.equal(
      (await ctx.request({ method: 'GET', url: `${base}/invitations/${inv.id}`, token: alice.token })).json().status,
      'revoked'
    )
    t.same(await roles(alice, base), ['partner', 'partner'])
  })

  t.test('an invitee who is already a member is 409 already-member, and the invitation stays usable', async (t) => {
    const { alice, bob, pid, url: base } = await k.couple()
    const inv = await k.invite(alice, pid, 'partner')
    isProblem(t, await accept(bob, inv.token), 409, 'already-member')
    isProblem(t, await accept(alice, inv.token), 409, 'already-member')
    t.equal(
      (await ctx.request({ method: 'GET', url: `${base}/invitations/${inv.id}`, token: alice.token })).json().status,
      'pending'
    )
    const carol = await k.person('Carol')
    t.equal((await accept(carol, inv.token)).statusCode, 201)
  })
})

t.test('revoking and approving', async (t) => {
  t.test('revoking an accepted or an already revoked invitation is 409 invitation-not-pending', async (t) => {
    const { alice, bob, pid, url: base } = await k.couple()
    const accepted = (await invitations(alice, base))[0]!
    t.equal(accepted.status, 'accepted')
    const before = (await k.eventsAfter(alice, pid, 0)).length
    isProblem(t, await revoke(alice, base, accepted.id), 409, 'invitation-not-pending')
    const inv = await k.invite(alice, pid, 'partner')
    t.equal((await revoke(bob, base, inv.id)).statusCode, 204, 'any partner may revoke')
    const afterFirst = (await k.eventsAfter(alice, pid, 0)).length
    t.equal(afterFirst, before + 2, 'invitation.created and invitation.revoked')
    isProblem(t, await revoke(alice, base, inv.id), 409, 'invitation-not-pending')
    t.equal((await k.eventsAfter(alice, pid, 0)).length, afterFirst, 'a refused revocation appends nothing')
  })

  t.test('an unknown invitation is 404 for a member', async (t) => {
    const { alice, url: base } = await k.couple()
    isProblem(t, await revoke(alice, base, randomUUID()), 404, 'not-found')
    isProblem(t, await approve(alice, base, randomUUID()), 404, 'not-found')
    isProblem(
      t,
      await ctx.request({ method: 'GET', url: `${base}/invitations/${randomUUID()}`, token: alice.token }),
      404,
      'not-found'
    )
  })

  t.test('approving a partner invitation is 409 not-an-observer-invitation', async (t) => {
    const { alice, pid, url: base } = await k.couple()
    const inv = await k.invite(alice, pid, 'partner')
    t.same(inv.pendingApprovals, [], 'a partner invitation needs no approval')
    const before = (await k.eventsAfter(alice, pid, 0)).length
    isProblem(t, await approve(alice, base, inv.id), 409, 'not-an-observer-invitation')
    t.equal((await k.eventsAfter(alice, pid, 0)).length, before)
  })

  t.test(
    'an observer needs the approval of every current partner, including one who joined after the others approved',
    async (t) => {
      const { alice, bob, pid, url: base } = await k.couple()
      const lee = await k.person('Lee')
      const obs = await k.invite(alice, pid, 'observer')
      t.same(obs.pendingApprovals.sort(), [alice.id, bob.id].sort())
      t.equal((await approve(alice, base, obs.id)).statusCode, 201)
      t.same((await approve(bob, base, obs.id)).json().pendingApprovals, [], 'both partners approved')
      const carol = await k.person('Carol')
      await k.join(carol, pid, 'partner', alice)
      const view = (
        await ctx.request({ method: 'GET', url: `${base}/invitations/${obs.id}`, token: alice.token })
      ).json()
      t.same(view.pendingApprovals, [carol.id], 'Carol, a partner now, has not approved')
      isProblem(t, await accept(lee, obs.token), 409, 'invitation-not-approved')
      t.equal((await approve(carol, base, obs.id)).statusCode, 201)
      const joined = await accept(lee, obs.token)
      t.equal(joined.statusCode, 201)
      t.equal(joined.json().role, 'observer')
    }
  )

  t.test('a partner who leaves before approving no longer blocks an observer', async (t) => {
    const { alice, bob, pid, url: base } = await k.couple()
    const carol = await k.person('Carol')
    await k.join(carol, pid, 'partner', alice)
    const lee = await k.person('Lee')
    const obs = await k.invite(alice, pid, 'observer')
    await approve(alice, base, obs.id)
    await approve(bob, base, obs.id)
    isProblem(t, await accept(lee, obs.token), 409, 'invitation-not-approved')
    t.equal((await ctx.request({ method: 'DELETE', url: `${base}/members/me`, token: carol.token })).statusCode, 204)
    t.same(
      (await ctx.request({ method: 'GET', url: `${base}/invitations/${obs.id}`, token: alice.token })).json()
        .pendingApprovals,
      []
    )
    t.equal((await accept(lee, obs.token)).statusCode, 201)
  })
})

t.test('expiry', async (t) => {
  t.test('the default expiry is 7 days from creation', async (t) => {
    const { alice, pid } = await k.couple()
    const inv = await k.invite(alice, pid, 'partner')
    t.equal(Date.parse(inv.expiresAt) - Date.parse(inv.createdAt), 7 * DAY)
    const created = (await k.eventsAfter(alice, pid, 0)).at(-1)!
    t.match(created, {
      type: 'invitation.created',
      subject: { id: inv.id },
      data: { role: 'partner', expiresAt: inv.expiresAt }
    })
  })

  t.test('an expiry up to 30 days away is accepted, and kept', async (t) => {
    const { alice, url: base } = await k.couple()
    for (const ms of [60_000, 3 * DAY, 30 * DAY]) {
      const expiresAt = new Date(ctx.clock.now().getTime() + ms).toISOString()
      const res = await invite(alice, base, { role: 'partner', expiresAt })
      t.equal(res.statusCode, 201, `${ms} ms away`)
      t.equal(res.json().expiresAt, expiresAt)
    }
    const offset = await invite(alice, base, { role: 'observer', expiresAt: '2999-01-01T00:00:00+02:00' })
    t.equal(offset.statusCode, 400, 'far future with an offset is still too far')
  })

  t.test(
    'an expiry in the past or more than 30 days away is 400 validation-failed naming /expiresAt, and creates nothing',
    async (t) => {
      const { alice, pid, url: base } = await k.couple()
      const before = {
        invitations: (await invitations(alice, base)).length,
        events: (await k.eventsAfter(alice, pid, 0)).length
      }
      const now = ctx.clock.now().getTime()
      for (const expiresAt of [
        new Date(now - 60_000),
        new Date(now - 365 * DAY),
        new Date(now + 30 * DAY + 60_000),
        new Date(now + 400 * DAY)
      ]) {
        isInvalid(
          t,
          await invite(alice, base, { role: 'partner', expiresAt: expiresAt.toISOString() }),
          '/expiresAt',
          `expiresAt ${expiresAt.toISOString()}`
        )
      }
      t.equal((await invitations(alice, base)).length, before.invitations)
      t.equal((await k.eventsAfter(alice, pid, 0)).length, before.events)
    }
  )

  t.test('a malformed expiresAt or an unknown role is 400', async (t) => {
    const { alice, url: base } = await k.couple()
    const cases: Array<[unknown, string]> = [
      [{ role: 'partner', expiresAt: 'next tuesday' }, '/expiresAt'],
      [{ role: 'partner', expiresAt: '2030-02-30T00:00:00Z' }, '/expiresAt'],
      [{ role: 'partner', expiresAt: 1_900_000_000 }, '/expiresAt'],
      [{ role: 'partner', expiresAt: '2030-01-01' }, '/expiresAt'],
      [{ role: 'admin' }, '/role'],
      [{ role: 'Partner' }, '/role'],
      [{}, '/role']
    ]
    for (const [body, path] of cases) isInvalid(t, await invite(alice, base, body), path, JSON.stringify(body))
    isProblem(t, await invite(alice, base, { role: 'partner', token: 'mine' }), 400, 'validation-failed')
    t.equal((await invitations(alice, base)).length, 1, "only Bob's invitation exists")
  })
})

t.test('limits', async (t) => {
  t.test('a partnership of 8 partners refuses a 9th, when inviting and when accepting', async (t) => {
    const alice = await k.person('Alice')
    const { pid, url: base } = await k.partnership(alice)
    for (let i = 2; i <= 7; i++) await k.join(await k.person(`P${i}`), pid, 'partner', alice)
    const eighth = await k.invite(alice, pid, 'partner')
    t.equal((await accept(await k.person('P8'), eighth.token)).statusCode, 201)
    t.equal((await roles(alice, base)).length, 8)
    isProblem(t, await invite(alice, base, { role: 'partner' }), 409, 'partnership-full')
    // An invitation pending beyond the free places (made before this rule, or written by hand) still cannot overfill it.
    const ninth = await smuggledInvitation(pid, alice.id, 'partner')
    isProblem(t, await accept(await k.person('P9'), ninth.token), 409, 'partnership-full')
    t.equal((await roles(alice, base)).length, 8)
    t.equal(
      (await ctx.request({ method: 'GET', url: `${base}/invitations/${ninth.id}`, token: alice.token })).json().status,
      'pending',
      'the refused invitation is not used up'
    )
    t.equal((await invite(alice, base, { role: 'observer' })).statusCode, 201, 'observers still fit')
  })

  t.test('a partnership has at most 4 observers, when inviting and when accepting', async (t) => {
    const { alice, bob, pid, url: base } = await k.couple()
    for (let i = 1; i <= 3; i++) await k.join(await k.person(`O${i}`), pid, 'observer', alice, [alice, bob])
    const fourth = await k.invite(alice, pid, 'observer')
    for (const p of [alice, bob]) t.equal((await approve(p, base, fourth.id)).statusCode, 201)
    t.equal((await accept(await k.person('O4'), fourth.token)).statusCode, 201)
    t.same((await roles(alice, base)).filter((r) => r === 'observer').length, 4)
    isProblem(t, await invite(alice, base, { role: 'observer' }), 409, 'partnership-full')
    const fifth = await smuggledInvitation(pid, alice.id, 'observer')
    for (const p of [alice, bob]) t.equal((await approve(p, base, fifth.id)).statusCode, 201)
    isProblem(t, await accept(await k.person('O5'), fifth.token), 409, 'partnership-full')
    t.same((await roles(alice, base)).filter((r) => r === 'observer').length, 4)
    t.equal((await invite(alice, base, { role: 'partner' })).statusCode, 201, 'partners still fit')
  })

  t.test(
    'pending invitations of a role are at most its free places: the next is 409 too-many-invitations (class: unbounded pending invitations)',
    async (t) => {
      const { alice, bob, pid, url: base } = await k.couple()
      // Observers: 4 free places, whoever invites.
      for (let i = 0; i < 4; i++)
        t.equal(
          (await invite(i % 2 === 0 ? alice : bob, base, { role: 'observer' })).statusCode,
          201,
          `observer invitation ${i + 1} of 4`
        )
      const before = await invitations(alice, base)
      for (const by of [alice, bob])
        isProblem(t, await invite(by, base, { role: 'observer' }), 409, 'too-many-invitations')
      t.same(await invitations(alice, base), before, 'the refused ones created nothing')
      // Partners: 6 free places; a used invitation frees its pending slot only by filling a place.
      const partnerInvitations = []
      for (let i = 0; i < 6; i++) partnerInvitations.push(await k.invite(alice, pid, 'partner'))
      isProblem(t, await invite(alice, base, { role: 'partner' }), 409, 'too-many-invitations')
      t.equal((await accept(await k.person('Carol'), partnerInvitations[0]!.token)).statusCode, 201)
      isProblem(t, await invite(alice, base, { role: 'partner' }), 409, 'too-many-invitations')
      // Revoking one, or its expiry, frees a slot.
      t.equal((await revoke(alice, base, partnerInvitations[1]!.id)).statusCode, 204)
      t.equal((await invite(alice, base, { role: 'partner' })).statusCode, 201, 'a revoked invitation no longer counts')
      ctx.clock.advance(8 * DAY)
      await k.refresh([alice])
      for (let i = 0; i < 4; i++)
        t.equal(
          (await invite(alice, base, { role: 'observer' })).statusCode,
          201,
          'expired invitations no longer count'
        )
      ctx.clock.advance(-8 * DAY)
    }
  )
})

t.test(
  'a member who left cannot come back on an invitation made before leaving (class: rejoining alone)',
  async (t) => {
    t.test(
      "leaving revokes the leaver's pending invitations, with invitation.revoked reason inviter-left",
      async (t) => {
        const { alice, bob, pid, url: base } = await k.couple()
        const carol = await k.person('Carol')
        await k.join(carol, pid, 'partner', alice)
        const own = [await k.invite(bob, pid, 'partner'), await k.invite(bob, pid, 'observer')]
        const others = await k.invite(alice, pid, 'partner')
        t.equal((await ctx.request({ method: 'DELETE', url: `${base}/members/me`, token: bob.token })).statusCode, 204)
        const listed = await invitations(alice, base)
        for (const inv of own)
          t.equal(listed.find((i) => i.id === inv.id)?.status, 'revoked', "the leaver's invitation is revoked")
        t.equal(listed.find((i) => i.id === others.id)?.status, 'pending', "other partners' invitations stay")
        const revoked = (await k.eventsAfter(alice, pid, 0)).filter((e) => e.type === 'invitation.revoked')
        t.same(
          revoked.map((e) => [e.subject.id, e.data.reason]).sort(),
          own.map((i) => [i.id, 'inviter-left']).sort(),
          'one event each, reason inviter-left'
        )
        for (const inv of own) isProblem(t, await accept(bob, inv.token), 410, 'invitation-revoked')
        isProblem(t, await accept(await k.person('Dan'), own[0]!.token), 410, 'invitation-revoked')
      }
    )

    t.test("accepting checks that the inviter is still a partner, whatever the invitation's state says", async (t) => {
      const { alice, bob, pid, url: base } = await k.couple()
      const carol = await k.person('Carol')
      await k.join(carol, pid, 'partner', alice)
      const smuggled = await smuggledInvitation(pid, bob.id, 'partner')
      t.equal((await ctx.request({ method: 'DELETE', url: `${base}/members/me`, token: bob.token })).statusCode, 204)
      await ctx.database.rows(
        sql`update invitations set status = 'pending', revoked_at = null where id = ${smuggled.id}`
      )
      const seq = (await k.eventsAfter(alice, pid, 0)).length
      isProblem(t, await accept(bob, smuggled.token), 410, 'invitation-revoked')
      t.same(await roles(alice, base), ['partner', 'partner'], 'Bob did not come back')
      t.equal((await k.eventsAfter(alice, pid, 0)).length, seq, 'nothing was appended')
    })
  }
)

t.test('idempotent invitations', async (t) => {
  t.test('the same Idempotency-Key returns the same invitation and token and creates one invitation', async (t) => {
    const { alice, pid, url: base } = await k.couple()
    const key = randomUUID()
    const first = await invite(alice, base, { role: 'partner' }, { 'idempotency-key': key })
    t.equal(first.statusCode, 201)
    const retry = await invite(alice, base, { role: 'partner' }, { 'idempotency-key': key })
    t.equal(retry.statusCode, 201)
    t.equal(retry.json().id, first.json().id)
    t.equal(retry.json().token, first.json().token)
    t.equal(retry.headers.location, first.headers.location)
    t.equal(retry.headers['idempotent-replayed'], 'true')
    t.equal((await invitations(alice, base)).filter((i) => i.status === 'pending').length, 1, 'one invitation')
    t.equal(
      (await k.eventsAfter(alice, pid, 0)).filter((e) => e.type === 'invitation.created').length,
      2,
      "one invitation.created besides Bob's"
    )
  })

  t.test('the same key with another body is 422 idempotency-key-reused and creates nothing', async (t) => {
    const { alice, pid, url: base } = await k.couple()
    const key = randomUUID()
    t.equal((await invite(alice, base, { role: 'partner' }, { 'idempotency-key': key })).statusCode, 201)
    const before = {
      invitations: (await invitations(alice, base)).length,
      events: (await k.eventsAfter(alice, pid, 0)).length
    }
    isProblem(
      t,
      await invite(alice, base, { role: 'observer' }, { 'idempotency-key': key }),
      422,
      'idempotency-key-reused'
    )
    t.equal((await invitations(alice, base)).length, before.invitations)
    t.equal((await k.eventsAfter(alice, pid, 0)).length, before.events)
  })
})

t.test('invitation tokens', async (t) => {
  t.test('carry at least 128 bits of randomness and differ between invitations', async (t) => {
    const { alice, pid } = await k.couple()
    const tokens: string[] = []
    for (let i = 0; i < 5; i++) tokens.push((await k.invite(alice, pid, i % 2 === 0 ? 'partner' : 'observer')).token)
    for (const token of tokens) {
      const m = /^acc_inv_([A-Za-z0-9_-]+)$/.exec(token)
      t.ok(m, `${token.slice(0, 8)}… has the prefix and base64url`)
      t.ok(m![1]!.length >= 43, '≥ 43 base64url characters (≥ 256 bits here, ≥ 128 required)')
      t.ok(Buffer.from(m![1]!, 'base64url').length >= 16)
    }
    t.equal(new Set(tokens).size, tokens.length, 'all different')
  })

  t.test('the database never stores a token in clear', async (t) => {
    const { alice, pid } = await k.couple()
    const tokens = [(await k.invite(alice, pid, 'partner')).token, (await k.invite(alice, pid, 'observer')).token]
    const rows = await ctx.database.rows<{ token_hash: string }>(sql`select token_hash from invitations`)
    t.ok(rows.length >= 3)
    for (const token of tokens) {
      const secret = token.slice('acc_inv_'.length)
      for (const row of rows) {
        t.notOk(row.token_hash.includes(secret), 'no row holds the token')
      }
    }
    const all = JSON.stringify(await ctx.database.rows(sql`select * from invitations`))
    for (const token of tokens) t.notOk(all.includes(token.slice('acc_inv_'.length)), 'nor any other column')
    const log = JSON.stringify(await ctx.database.rows(sql`select * from events`))
    for (const token of tokens) t.notOk(log.includes(token.slice('acc_inv_'.length)), 'nor the audit log')
  })

  t.test('nor does it keep the token of an invitation created with an Idempotency-Key', async (t) => {
    const { alice, url: base } = await k.couple()
    const res = await invite(alice, base, { role: 'partner' }, { 'idempotency-key': randomUUID() })
    t.equal(res.statusCode, 201)
    const secret = (res.json().token as string).slice('acc_inv_'.length)
    t.notOk(
      JSON.stringify(await ctx.database.rows(sql`select * from invitations`)).includes(secret),
      'not in invitations'
    )
    t.notOk(
      JSON.stringify(await ctx.database.rows(sql`select * from idempotency_keys`)).includes(secret),
      'not in the idempotency records (sealed)'
    )
  })
})

// Last: moving the clock changes the world for every later test (and expires every token minted before).
t.test('an expired invitation is 410 invitation-expired and shows status expired', async (t) => {
  const { alice, bob, pid, url: base } = await k.couple()
  const partner = await k.invite(alice, pid, 'partner')
  const observer = await k.invite(alice, pid, 'observer')
  t.equal((await approve(alice, base, observer.id)).statusCode, 201)
  t.equal((await approve(bob, base, observer.id)).statusCode, 201)
  const live = await k.invite(alice, pid, 'partner')

  ctx.clock.advance(7 * DAY - 60_000)
  const early = await k.person('Early')
  t.equal((await accept(early, live.token)).statusCode, 201, 'a minute before expiry it still works')

  ctx.clock.advance(2 * 60_000)
  await k.refresh([alice])
  const before = (await k.eventsAfter(alice, pid, 0)).length
  for (const inv of [partner, observer]) {
    const view = await ctx.request({ method: 'GET', url: `${base}/invitations/${inv.id}`, token: alice.token })
    t.equal(view.statusCode, 200)
    t.equal(view.json().status, 'expired')
    t.same(view.json().pendingApprovals, [], 'nobody is asked to approve an expired invitation')
    const late = await k.person('Late')
    isProblem(t, await accept(late, inv.token), 410, 'invitation-expired')
    isProblem(t, await revoke(alice, base, inv.id), 409, 'invitation-not-pending')
  }
  const unapproved = await k.invite(alice, pid, 'observer')
  ctx.clock.advance(7 * DAY)
  await k.refresh([alice, bob])
  isProblem(t, await approve(bob, base, unapproved.id), 409, 'invitation-not-pending')
  t.same(
    (await invitations(alice, base)).map((i) => i.status),
    ['accepted', 'expired', 'expired', 'accepted', 'expired']
  )
  t.equal(
    (await k.eventsAfter(alice, pid, 0)).length,
    before + 1,
    'nothing but the last invitation.created was recorded'
  )
  t.same(await roles(alice, base), ['partner', 'partner', 'partner'], 'Alice, Bob and Early')
})
