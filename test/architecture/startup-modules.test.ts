import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import t from 'tap'

// What the server loads just by starting is memory it holds for its whole life. An ES import of node:http reads
// every export of it, and reading its WebSocket, CloseEvent and MessageEvent loads the undici that Node bundles for
// fetch: its 760 KB of source, compiled, about 3 MB of heap that nothing in the server uses. So node:http is
// required, not imported (webhooks/delivery.sender.ts), and this holds what the server imports to the same rule.
const root = new URL('../..', import.meta.url).pathname
const loaded = (imports: string[]): string[] =>
  JSON.parse(
    execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `${imports.map((m) => `await import(${JSON.stringify(m)})`).join(';')};` +
          'process.stdout.write(JSON.stringify(process.moduleLoadList.filter((m) => m.includes("undici"))))'
      ],
      { cwd: root, encoding: 'utf8' }
    )
  ) as string[]

t.test("the app and the webhook worker do not load Node's undici", async (t) => {
  t.same(
    loaded([
      `${root}src/app.ts`,
      `${root}src/webhooks/delivery.worker.ts`,
      `${root}src/db/client.ts`,
      `${root}src/scheduler/scheduler.ts`,
      'close-with-grace'
    ]),
    []
  )
})

t.test('the check sees undici when it is loaded: an ES import of node:http', async (t) => {
  t.ok(loaded(['node:http']).length > 0)
})

// esbuild hoists every value import of a bundled module to the top of dist/server.js, dynamically imported ones
// included: PGlite's serializer and parser reach db/pglite-statements.ts from client.ts, which loads PGlite only
// when it opens one, so that a server on PostgreSQL never loads PGlite's modules.
t.test('the bundle loads PGlite only when it opens one', async (t) => {
  execFileSync(process.execPath, ['scripts/build.ts'], { cwd: root })
  const staticImports = [
    ...readFileSync(`${root}dist/server.js`, 'utf8').matchAll(/^import\s[^;]*?\sfrom\s+"([^"]+)"/gms)
  ].map((m) => m[1])
  t.ok(staticImports.includes('fastify'), 'the check sees the static imports')
  t.same(
    staticImports.filter((m) => m!.includes('pglite')),
    [],
    'no static import of PGlite'
  )
})
