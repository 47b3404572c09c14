import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { isInvalid, isProblem, problemOf } from '../helpers/problems.ts'

const ctx = await buildTestApp(t)

t.test('GET /v1/me', async (t) => {
  t.test("provisions the caller on the first call, from the token's name", async (t) => {
    const token = await ctx.token('alice', { name: 'Alice' })
    const res = await ctx.request({ method: 'GET', url: '/v1/me', token })
    t.equal(res.statusCode, 200)
    const me = res.json()
    t.match(me, { displayName: 'Alice', timezone: 'UTC' })
    t.match(me.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/, 'a UUIDv7')
    t.equal(res.headers.etag, '"v1"')
    t.equal(res.headers['cache-control'], 'no-store')
    const again = await ctx.request({
      method: 'GET',
      url: '/v1/me',
      token: await ctx.token('alice', { name: 'Someone Else' })
    })
    t.equal(again.json().id, me.id, 'same (iss, sub) is the same user')
    t.equal(again.json().displayName, 'Alice', 'a later token does not rename the user')
  })

  t.test('without a token is 401 with a Bearer challenge', async (t) => {
    const res = await ctx.request({ method: 'GET', url: '/v1/me' })
    isProblem(t, res, 401, 'token-required', 'no token')
    t.match(res.headers['www-authenticate'], /^Bearer realm="accord"/)
  })
})

t.test('PATCH /v1/me', async (t) => {
  const token = await ctx.token('bob', { name: 'Bob' })
  const read = async () => ctx.request({ method: 'GET', url: '/v1/me', token })

  t.test('changes the name and time zone when If-Match is current', async (t) => {
    const before = await read()
    const res = await ctx.request({
      method: 'PATCH',
      url: '/v1/me',
      token,
      headers: { 'if-match': before.headers.etag as string },
      body: { displayName: '  Robert ', timezone: 'Europe/Paris' }
    })
    t.equal(res.statusCode, 200)
    t.match(res.json(), { displayName: 'Robert', timezone: 'Europe/Paris' })
    t.not(res.headers.etag, before.headers.etag, 'a new ETag')
    t.equal((await read()).json().displayName, 'Robert')
  })

  t.test('needs profile:write: a token with other scopes is 403 and changes nothing', async (t) => {
    const before = await read()
    const readOnly = await ctx.token('bob', {
      name: 'Bob',
      scope: 'partnerships:read agreements:read agreements:write'
    })
    const res = await ctx.request({
      method: 'PATCH',
      url: '/v1/me',
      token: readOnly,
      headers: { 'if-match': '*' },
      body: { displayName: 'Nope' }
    })
    isProblem(t, res, 403, 'insufficient-scope', 'PATCH with other scopes')
    t.equal((await read()).headers.etag, before.headers.etag, 'unchanged')
    const writer = await ctx.token('bob', { name: 'Bob', scope: 'profile:write' })
    t.equal(
      (await ctx.request({ method: 'GET', url: '/v1/me', token: readOnly })).statusCode,
      200,
      'reading needs no scope'
    )
    t.equal(
      (
        await ctx.request({
          method: 'PATCH',
          url: '/v1/me',
          token: writer,
          headers: { 'if-match': before.headers.etag as string },
          body: { timezone: before.json().timezone }
        })
      ).statusCode,
      200,
      'profile:write may'
    )
  })

  t.test('without If-Match is 428 and changes nothing', async (t) => {
    const before = (await read()).json()
    const res = await ctx.request({ method: 'PATCH', url: '/v1/me', token, body: { displayName: 'Nope' } })
    isProblem(t, res, 428, 'precondition-required', 'PATCH without If-Match')
    t.same((await read()).json(), before)
  })

  t.test('with a stale If-Match is 412 and changes nothing', async (t) => {
    const before = await read()
    const res = await ctx.request({
      method: 'PATCH',
      url: '/v1/me',
      token,
      headers: { 'if-match': '"v1"' },
      body: { displayName: 'Nope' }
    })
    isProblem(t, res, 412, 'precondition-failed', 'PATCH with a stale If-Match')
    t.equal(res.headers.etag, before.headers.etag, 'the 412 tells the current ETag')
    t.same((await read()).json(), before.json())
    const weak = await ctx.request({
      method: 'PATCH',
      url: '/v1/me',
      token,
      headers: { 'if-match': `W/${before.headers.etag as string}` },
      body: { displayName: 'Nope' }
    })
    t.equal(weak.statusCode, 412, 'a weak tag never matches')
  })

  t.test(
    'If-Match: the current ETag unquoted is read as meant; anything that is no entity tag is a 400 naming the header',
    async (t) => {
      const before = await read()
      const unquoted = (before.headers.etag as string).replaceAll('"', '')
      const res = await ctx.request({
        method: 'PATCH',
        url: '/v1/me',
        token,
        headers: { 'if-match': unquoted },
        body: { displayName: 'Unquoted' }
      })
      t.equal(res.statusCode, 200, `${unquoted} matches ${before.headers.etag as string}`)
      const now = await read()
      for (const bad of ['version 2', 'v0', '"v1', 'etag', '1']) {
        const refused = await ctx.request({
          method: 'PATCH',
          url: '/v1/me',
          token,
          headers: { 'if-match': bad },
          body: { displayName: 'Nope' }
        })
        t.equal(refused.statusCode, 400, `If-Match: ${bad}`)
        t.match(problemOf(refused).errors, [{ in: 'header', path: '/if-match' }])
      }
      t.same((await read()).json(), now.json(), 'nothing changed')
    }
  )

  t.test('If-Match: * matches any version', async (t) => {
    const res = await ctx.request({
      method: 'PATCH',
      url: '/v1/me',
      token,
      headers: { 'if-match': '*' },
      body: { displayName: 'Bobby' }
    })
    t.equal(res.statusCode, 200)
  })

  t.test('rejects invalid bodies with 400 problem+json listing each error', async (t) => {
    const etag = (await read()).headers.etag as string
    const cases: Array<[unknown, string]> = [
      [{ timezone: 'Mars/Olympus' }, '/timezone'],
      [{ timezone: '+01:00' }, '/timezone'],
      [{ displayName: '' }, '/displayName'],
      [{ displayName: 'x'.repeat(101) }, '/displayName'],
      [{ displayName: 'ok', extra: true }, '/extra'],
      [{}, '']
    ]
    for (const [body, path] of cases) {
      isInvalid(
        t,
        await ctx.request({ method: 'PATCH', url: '/v1/me', token, headers: { 'if-match': etag }, body }),
        path,
        JSON.stringify(body)
      )
    }
    t.equal((await read()).headers.etag, etag, 'nothing changed')
  })
})
