import t from 'tap'
import { z } from 'zod'
import { execute } from '../../src/db/driver.ts'
import { transaction } from '../../src/db/transaction.ts'
import { callerOf, secured } from '../../src/http/auth.ts'
import { updateUser } from '../../src/users/user.repo.ts'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem } from '../helpers/problems.ts'

// Class: a 500 for what a retry fixes. PostgreSQL rolls back a transaction it chose as a deadlock's victim (40P01)
// or could not serialize (40001); the request changed nothing and will very likely succeed if sent again.
// The use case here renames its caller, then its database refuses with the SQLSTATE asked for, as PostgreSQL does.
const ctx = await buildTestApp(t, {
  register: (app) => {
    app.post(
      '/test/rename-then-fail',
      { schema: { security: secured(), body: z.strictObject({ displayName: z.string(), sqlstate: z.string() }) } },
      async (request) => {
        const { displayName, sqlstate } = request.body as { displayName: string; sqlstate: string }
        await transaction(ctx.deps.db, async (tx) => {
          await updateUser(tx, callerOf(request).userId, { displayName }, new Date())
          await execute(tx, `do $$ begin raise exception 'refused' using errcode = '${sqlstate}'; end $$`, [])
        })
        return { ok: true }
      }
    )
  }
})
const k = agreementKit(ctx)

t.test('a deadlock or a serialization failure: a 503 to retry, and nothing changed', async (t) => {
  const alice = await k.person('Alice')
  for (const sqlstate of ['40P01', '40001']) {
    const res = await ctx.request({
      method: 'POST',
      url: '/test/rename-then-fail',
      token: alice.token,
      body: { displayName: `Renamed ${sqlstate}`, sqlstate }
    })
    isProblem(t, res, 503, 'concurrent-update', sqlstate)
    t.equal(res.headers['retry-after'], '1', `${sqlstate}: retry after a second`)
    t.match(res.json().detail, /nothing changed/)
    const me = (await ctx.request({ method: 'GET', url: '/v1/me', token: alice.token })).json()
    t.equal(me.displayName, 'Alice', `${sqlstate}: the rename was rolled back`)
  }
  // The control: any other refusal is still the 500 it was.
  const other = await ctx.request({
    method: 'POST',
    url: '/test/rename-then-fail',
    token: alice.token,
    body: { displayName: 'Renamed', sqlstate: 'P0001' }
  })
  isProblem(t, other, 500, 'internal')
})
