import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { isLoopback, loadConfig } from '../../src/config.ts'
import { buildTestApp, onPostgres } from '../helpers/app.ts'
import { freePort, request, startServer } from '../helpers/process.ts'

// Class: anyone minting a token for anyone. Development tokens exist only outside production on a loopback
// address, or where DEV_TOKENS=true says so explicitly; everywhere else the route does not exist.
const root = fileURLToPath(new URL('../..', import.meta.url))

t.test('when development tokens are on', async (t) => {
  const on = (env: Record<string, string>) => loadConfig({ DATA_DIR: ':memory:', ...env }).auth.devTokens
  t.equal(on({}), true, 'the defaults: development on 127.0.0.1')
  for (const host of ['127.0.0.1', '127.0.0.53', 'localhost', '::1', '[::1]'])
    t.equal(on({ HOST: host }), true, `${host} is loopback`)
  for (const host of ['0.0.0.0', '::', '192.0.2.4', 'accord.example.org', '10.0.0.1', '128.0.0.1']) {
    t.equal(on({ HOST: host }), false, `${host} is reachable from elsewhere: off`)
    t.equal(on({ HOST: host, DEV_TOKENS: 'true' }), true, `${host} with DEV_TOKENS=true: on, as asked`)
  }
  t.equal(on({ NODE_ENV: 'production' }), false, 'production: off, even on loopback')
  t.equal(on({ NODE_ENV: 'production', DEV_TOKENS: 'true' }), true, 'production with DEV_TOKENS=true: on, as asked')
  t.equal(on({ DEV_TOKENS: 'false' }), false, 'DEV_TOKENS=false: off everywhere')
  t.equal(on({ NODE_ENV: 'test', HOST: '0.0.0.0' }), false, 'test on all interfaces: off')
  t.throws(() => loadConfig({ DEV_TOKENS: 'yes' }), /DEV_TOKENS/, 'a bad value names the variable')
  t.ok(
    isLoopback('127.255.255.254') && !isLoopback('127.0.0.1.evil.example'),
    'the loopback check reads addresses, not prefixes'
  )
})

t.test('where they are off, POST /v1/dev/tokens does not exist: the same 404 as any unknown route', async (t) => {
  const off = await buildTestApp(t, { env: { HOST: '0.0.0.0' } })
  const res = await off.request({ method: 'POST', url: '/v1/dev/tokens', body: { sub: 'mallory' } })
  t.equal(res.statusCode, 404)
  t.same(
    { ...res.json(), requestId: undefined },
    {
      ...(await off.request({ method: 'POST', url: '/v1/nothing/here', body: { sub: 'mallory' } })).json(),
      requestId: undefined,
      instance: '/v1/dev/tokens',
      detail: 'no route POST /v1/dev/tokens'
    }
  )
  const doc = (await off.request({ method: 'GET', url: '/openapi.json' })).json()
  t.notOk(doc.paths['/v1/dev/tokens'], 'and the served document does not offer it')
  const on = await buildTestApp(t, { database: off.database, env: { HOST: '0.0.0.0', DEV_TOKENS: 'true' } })
  t.equal(
    (await on.request({ method: 'POST', url: '/v1/dev/tokens', body: { sub: 'alice' } })).statusCode,
    201,
    'DEV_TOKENS=true turns it on'
  )
})

t.test('on by default, they are for loopback clients only: a proxied or remote request gets the 404', async (t) => {
  const local = await buildTestApp(t)
  t.equal(local.deps.config.auth.devTokensLoopbackOnly, true)
  const mint = (headers: Record<string, string>, remoteAddress = '127.0.0.1') =>
    local.app.inject({ method: 'POST', url: '/v1/dev/tokens', payload: { sub: 'mallory' }, headers, remoteAddress })
  t.equal((await mint({})).statusCode, 201, 'a loopback client mints')
  for (const [what, headers, from] of [
    ['X-Forwarded-For (a proxy on this machine)', { 'x-forwarded-for': '203.0.113.9' }, '127.0.0.1'],
    ['Forwarded (RFC 7239)', { forwarded: 'for=203.0.113.9' }, '127.0.0.1'],
    ['X-Real-IP (nginx)', { 'x-real-ip': '203.0.113.9' }, '127.0.0.1'],
    ['Via (a proxy that names itself)', { via: '1.1 proxy' }, '127.0.0.1'],
    ['X-Forwarded-Proto alone', { 'x-forwarded-proto': 'https' }, '127.0.0.1'],
    ['another address', {}, '192.0.2.7']
  ] as const) {
    const res = await mint(headers, from)
    t.equal(res.statusCode, 404, what)
    t.equal(res.json().detail, 'no route POST /v1/dev/tokens', `${what}: as if the route did not exist`)
  }
  const asked = await buildTestApp(t, { database: local.database, env: { DEV_TOKENS: 'true' } })
  const proxied = await asked.app.inject({
    method: 'POST',
    url: '/v1/dev/tokens',
    payload: { sub: 'alice' },
    headers: { 'x-forwarded-for': '203.0.113.9' },
    remoteAddress: '192.0.2.7'
  })
  t.equal(proxied.statusCode, 201, 'DEV_TOKENS=true: from anywhere, as asked')
})

const runToken = (
  env: Record<string, string>,
  args: string[] = ['alice', '--name', 'Alice']
): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      ['scripts/token.ts', ...args],
      { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 120_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr })
      }
    )
  })

const skip = onPostgres ? 'these start PGlite servers; they run once, on the PGlite pass' : false

t.test('npm run token refuses where development tokens are off', { skip }, async (t) => {
  for (const env of [{ NODE_ENV: 'production' }, { HOST: '0.0.0.0' }, { DEV_TOKENS: 'false' }] as Array<
    Record<string, string>
  >) {
    const res = await runToken({ ...env, DATA_DIR: ':memory:' })
    t.equal(res.code, 1, `${JSON.stringify(env)}: exit 1`)
    t.equal(res.stdout, '', 'no token')
    t.match(res.stderr, /development tokens are off here/)
  }
})

t.test(
  'one process per PGlite directory; npm run token finds the server holding it, whatever PORT it is given',
  { skip },
  async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'accord-lock-'))
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
    const port = await freePort()
    const first = startServer(t, { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info' }, port)
    const started = JSON.parse(await first.waitForLine(/listening/))
    t.match(
      JSON.parse(await first.waitForLine(/development tokens are ON/)),
      { level: 40 },
      'the start log warns that development tokens are on'
    )
    t.match(started.msg, `http://127.0.0.1:${port}`)

    // PORT left at its default (3000), as in a shell that did not export it: the lock names the real server.
    const minted = await runToken({ DATA_DIR: dataDir })
    t.equal(minted.code, 0, minted.stderr)
    t.match(
      minted.stderr,
      `minted by the server at http://127.0.0.1:${port} (issuer http://127.0.0.1:${port})`,
      'it says which server and issuer'
    )
    const me = await request(port, { path: '/v1/me', headers: { authorization: `Bearer ${minted.stdout.trim()}` } })
    t.equal(me.status, 200, 'and the token works there')

    const secondPort = await freePort()
    const second = startServer(
      t,
      { PORT: String(secondPort), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info' },
      secondPort
    )
    const exit = await second.exit(90_000)
    t.equal(exit.code, 1, 'a second server on the same directory exits 1')
    t.match(
      second.stderr(),
      `DATA_DIR ${dataDir} is in use by another Accord process (pid ${first.child.pid}`,
      'naming the first'
    )
    t.equal((await request(port, { path: '/healthz' })).status, 200, 'the first serves on')

    first.child.kill('SIGKILL')
    await first.exit()
    // The lock of a process that died is taken over: by npm run token when no server runs, then by a new server.
    const offline = await runToken({ DATA_DIR: dataDir, PORT: String(port) })
    t.equal(offline.code, 0, offline.stderr)
    t.match(
      offline.stderr,
      `no server answered at http://127.0.0.1:${port}; minted from DATA_DIR ${dataDir} with issuer http://127.0.0.1:${port}`
    )
    const again = startServer(t, { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info' }, port)
    await again.waitForLine(/listening/)
    t.equal(
      (await request(port, { path: '/v1/me', headers: { authorization: `Bearer ${offline.stdout.trim()}` } })).status,
      200,
      'a server started with the same configuration accepts it'
    )
  }
)
