import { execFileSync } from 'node:child_process'
import t from 'tap'

// What the server loads just by starting is memory it holds for its whole life. An ES import of node:http reads
// every export of it, and reading its WebSocket, CloseEvent and MessageEvent loads the undici that Node bundles for
// fetch: its 760 KB of source, compiled, about 3 MB of heap that nothing in the server uses. So node:http is
// required, not imported (webhooks/delivery.sender.ts), and this holds every module of the app to the same rule.
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
  t.same(loaded([`${root}src/app.ts`, `${root}src/webhooks/delivery.worker.ts`]), [])
})

t.test('the check sees undici when it is loaded: an ES import of node:http', async (t) => {
  t.ok(loaded(['node:http']).length > 0)
})
