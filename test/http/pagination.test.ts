import { asc, gt } from 'drizzle-orm'
import t from 'tap'
import { z } from 'zod'
import { secured } from '../../src/http/auth.ts'
import { decodeCursor, PageQuerySchema, paginate } from '../../src/http/pagination.ts'
import { users } from '../../src/users/user.sql.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem, problemOf } from '../helpers/problems.ts'

// The helpers exercised through a real route over a real table (users, by id).
const ctx = await buildTestApp(t, {
  register(app, deps) {
    app.get('/v1/test/users', { schema: { security: secured(), querystring: PageQuerySchema } }, async (request) => {
      const { limit, cursor } = request.query as z.infer<typeof PageQuerySchema>
      const after = decodeCursor(cursor, z.object({ id: z.uuid() }))
      const rows = await deps.db
        .select({ id: users.id })
        .from(users)
        .where(after ? gt(users.id, after.id) : undefined)
        .orderBy(asc(users.id))
        .limit(limit + 1)
      return paginate(rows, limit, (r) => ({ id: r.id }))
    })
  }
})

const token = await ctx.token('u-000')
for (let i = 1; i < 45; i++)
  await ctx.request({ method: 'GET', url: '/v1/me', token: await ctx.token(`u-${String(i).padStart(3, '0')}`) })

t.test('cursor pagination', async (t) => {
  t.test('walks every row once, in order, and ends with a null cursor', async (t) => {
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const res = await ctx.request({
        method: 'GET',
        url: `/v1/test/users?limit=20${cursor ? `&cursor=${cursor}` : ''}`,
        token
      })
      t.equal(res.statusCode, 200)
      const page = res.json() as { items: Array<{ id: string }>; nextCursor: string | null }
      seen.push(...page.items.map((i) => i.id))
      cursor = page.nextCursor
      pages++
    } while (cursor && pages < 10)
    t.equal(seen.length, 45)
    t.equal(new Set(seen).size, 45, 'no duplicates')
    t.same(seen, [...seen].sort(), 'in order')
    t.equal(pages, 3)
  })

  t.test('the default page is 20', async (t) => {
    const res = await ctx.request({ method: 'GET', url: '/v1/test/users', token })
    t.equal(res.json().items.length, 20)
  })

  t.test('a bad limit or a forged cursor is 400 and names the parameter', async (t) => {
    for (const q of ['limit=0', 'limit=101', 'limit=abc', 'limit=2.5']) {
      const res = await ctx.request({ method: 'GET', url: `/v1/test/users?${q}`, token })
      t.equal(res.statusCode, 400, q)
      t.match(problemOf(res), { code: 'validation-failed', errors: [{ in: 'query', path: '/limit' }] })
    }
    for (const c of [
      'nope',
      Buffer.from('{"id":"not-a-uuid"}').toString('base64url'),
      Buffer.from('[1,2]').toString('base64url')
    ]) {
      const res = await ctx.request({ method: 'GET', url: `/v1/test/users?cursor=${c}`, token })
      isProblem(t, res, 400, 'invalid-cursor', c)
    }
  })
})
