import { readFile } from 'node:fs/promises'
import t from 'tap'
import { generateClientTypes } from '../scripts/client-types.ts'
import { generateOpenApi } from '../src/openapi.ts'
import { buildTestApp, undocumented } from './helpers/app.ts'

t.test('openapi/openapi.json', async (t) => {
  t.test('is exactly what the schemas generate (run `npm run openapi` after changing a route)', async (t) => {
    const committed = await readFile(new URL('../openapi/openapi.json', import.meta.url), 'utf8')
    t.equal(committed, await generateOpenApi())
  })

  t.test(
    'and the client types beside it, openapi/accord.d.ts, are exactly what openapi-typescript makes of it',
    async (t) => {
      const committed = await readFile(new URL('../openapi/openapi.json', import.meta.url), 'utf8')
      const types = await readFile(new URL('../openapi/accord.d.ts', import.meta.url), 'utf8')
      t.equal(types, await generateClientTypes(committed))
    }
  )

  t.test('documents every route with a summary, an operationId and problem+json errors', async (t) => {
    const doc = JSON.parse(await readFile(new URL('../openapi/openapi.json', import.meta.url), 'utf8'))
    t.equal(doc.openapi, '3.1.0')
    const ids = new Set<string>()
    for (const [path, item] of Object.entries<
      Record<
        string,
        { operationId?: string; summary?: string; responses?: Record<string, { content?: Record<string, unknown> }> }
      >
    >(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        t.ok(op.summary, `${method} ${path} has a summary`)
        t.ok(op.operationId && !ids.has(op.operationId), `${method} ${path} has a unique operationId`)
        ids.add(op.operationId!)
        for (const [status, res] of Object.entries(op.responses ?? {})) {
          if (Number(status) >= 400 && res.content)
            t.ok(res.content['application/problem+json'], `${method} ${path} ${status} is problem+json`)
        }
      }
    }
  })
})

t.test('the document and the docs page are served', async (t) => {
  const ctx = await buildTestApp(t)
  const json = await ctx.request({ method: 'GET', url: '/openapi.json' })
  t.equal(json.statusCode, 200)
  t.equal(json.json().info.title, 'Accord API')
  const docs = await ctx.request({ method: 'GET', url: '/docs/' })
  t.equal(docs.statusCode, 200)
  t.match(docs.headers['content-type'], /text\/html/)
  t.notMatch(docs.body, /https?:\/\/(cdn|unpkg|jsdelivr)/, 'assets are served locally, no CDN')
  // A page a browser renders: helmet's headers, whose CSP lets the page load its own scripts and styles (the API's
  // default-src 'none' would leave it blank: test/docs/docs-browser.test.ts renders it).
  t.match(docs.headers['content-security-policy'], /script-src 'self'/)
  t.equal(docs.headers['x-frame-options'], 'SAMEORIGIN')
  t.equal(docs.headers['x-content-type-options'], 'nosniff')
  const asset = await ctx.request({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' })
  t.equal(asset.statusCode, 200)
  t.match(asset.headers['content-security-policy'], /script-src 'self'/)
  const notDocs = await ctx.request({ method: 'GET', url: '/docsearch' })
  t.equal(
    notDocs.headers['content-security-policy'],
    "default-src 'none'; frame-ancestors 'none'",
    '/docsearch is not /docs'
  )
})

t.test(
  'every answer the suite provokes is held to the document (the check that buildTestApp runs on each answer)',
  async (t) => {
    t.equal(
      undocumented('GET', '/v1/calendar/:file', 200, 'text/calendar; charset=utf-8'),
      null,
      'the feed is text/calendar'
    )
    t.match(
      undocumented('GET', '/v1/calendar/:file', 200, 'application/json'),
      /was application\/json/,
      'a JSON feed would be caught'
    )
    t.match(undocumented('GET', '/v1/me', 500, 'application/problem+json'), /answered 500/, 'a 500 is never documented')
    t.match(
      undocumented('GET', '/problems/:code', 418, 'application/problem+json'),
      /does not document/,
      'an unlisted status is caught'
    )
    t.equal(
      undocumented('GET', '/problems/:code', 400, 'application/problem+json'),
      null,
      'a too long code is a documented 400'
    )
    t.match(
      undocumented('POST', '/v1/partnerships', 201, 'text/html'),
      /was text\/html/,
      'a wrong content type for a documented status is caught'
    )
    t.equal(undocumented('DELETE', '/v1/partnerships/:pid/members/me', 204, undefined), null, 'a 204 has no body')
    t.equal(
      undocumented('GET', '/v1/test/only', 500, 'text/plain'),
      null,
      'routes outside the document are not its business'
    )
    for (const [method, route] of [
      ['POST', '/v1/partnerships/:pid/agreements/:aid/reviews'],
      ['PATCH', '/v1/me'],
      ['POST', '/v1/invitations/accept']
    ]) {
      for (const status of [400, 401, 413, 415, 429, 503])
        t.equal(
          undocumented(method!, route!, status, 'application/problem+json'),
          null,
          `${method} ${route} documents ${status}`
        )
    }
    t.equal(
      undocumented('POST', '/v1/partnerships/:pid/agreements/:aid/reviews', 422, 'application/problem+json'),
      null,
      'an authenticated POST documents 422 (idempotency key reused)'
    )
  }
)

t.test('operations declare the headers they read', async (t) => {
  const doc = JSON.parse(await readFile(new URL('../openapi/openapi.json', import.meta.url), 'utf8'))
  const headers = (path: string, method: string): string[] =>
    (doc.paths[path][method].parameters ?? [])
      .filter((p: { in: string }) => p.in === 'header')
      .map((p: { name: string }) => p.name)
  for (const [path, method] of [
    ['/v1/me', 'patch'],
    ['/v1/partnerships/{pid}', 'patch'],
    ['/v1/partnerships/{pid}/agreements/{aid}/versions/{n}', 'patch'],
    ['/v1/partnerships/{pid}/agreements/{aid}/versions', 'post']
  ]) {
    t.ok(headers(path!, method!).includes('if-match'), `${method} ${path} declares If-Match`)
  }
  for (const [path, item] of Object.entries<Record<string, { security?: unknown[] }>>(doc.paths)) {
    if (item.post && (item.post.security === undefined || item.post.security.length > 0))
      t.ok(headers(path, 'post').includes('idempotency-key'), `POST ${path} declares Idempotency-Key`)
  }
  for (const name of ['UpdateMeInput', 'UpdatePartnershipInput'])
    t.equal(doc.components.schemas[name]?.minProperties, 1, `${name} needs at least one property`)
  t.same(
    doc.servers,
    [{ url: '/', description: doc.servers[0].description }],
    'the server is wherever the document was fetched from'
  )
})
