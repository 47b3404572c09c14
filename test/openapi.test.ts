import { readFile } from 'node:fs/promises'
import t from 'tap'
import { generateOpenApi } from '../src/openapi.ts'
import { buildTestApp } from './helpers/app.ts'

t.test('openapi/openapi.json', async (t) => {
  t.test('is exactly what the schemas generate (run `npm run openapi` after changing a route)', async (t) => {
    const committed = await readFile(new URL('../openapi/openapi.json', import.meta.url), 'utf8')
    t.equal(committed, await generateOpenApi())
  })

  t.test('documents every route with a summary, an operationId and problem+json errors', async (t) => {
    const doc = JSON.parse(await readFile(new URL('../openapi/openapi.json', import.meta.url), 'utf8'))
    t.equal(doc.openapi, '3.1.0')
    const ids = new Set<string>()
    for (const [path, item] of Object.entries<Record<string, { operationId?: string, summary?: string, responses?: Record<string, { content?: Record<string, unknown> }> }>>(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        t.ok(op.summary, `${method} ${path} has a summary`)
        t.ok(op.operationId && !ids.has(op.operationId), `${method} ${path} has a unique operationId`)
        ids.add(op.operationId!)
        for (const [status, res] of Object.entries(op.responses ?? {})) {
          if (Number(status) >= 400 && res.content) t.ok(res.content['application/problem+json'], `${method} ${path} ${status} is problem+json`)
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
  const asset = await ctx.request({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' })
  t.equal(asset.statusCode, 200)
})
