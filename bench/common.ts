// What the bench scripts share: how Accord is started, and a free loopback port.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'

export const root = new URL('..', import.meta.url).pathname

/** The Node flags `npm start` runs Accord with (the V8 heap sizing that bounds its memory), so the benches measure the same process. */
export const startFlags = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start.split(/\s+/).filter((a) => a.startsWith('--'))

export const freePort = () => new Promise<number>((resolve) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)) }) })
