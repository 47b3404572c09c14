// npm run build (run by npm start first): src/server.ts and everything it imports from src/, bundled by esbuild
// into one plain-JavaScript module, dist/server.js, with its source map beside it. Packages stay imports of
// node_modules (patched postgres.js, PGlite's WebAssembly files, swagger-ui's assets: each as installed).
// Why: Node strips the types of every .ts file it loads through a WebAssembly compiler (amaro) that it then
// keeps, with its 3.8 MB of source, for the life of the process; the bundle needs none of it, so the server
// starts faster and holds less memory (bench/README.md). Tests, `npm run dev` and the scripts run src/ as is.
// The file is written whole and then renamed into place, so that two `npm start`s at once (the tests run
// several) never start from a half-written bundle.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))
const serverBundle = join(root, 'dist', 'server.js')

const result = await build({
  absWorkingDir: root,
  entryPoints: ['src/server.ts'],
  outfile: serverBundle,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  packages: 'external',
  // Bundling renames a top-level name that two modules share; keepNames keeps every class's and function's
  // own `name`, which errors and logs show.
  keepNames: true,
  sourcemap: 'linked',
  logLevel: 'warning',
  write: false
})
mkdirSync(dirname(serverBundle), { recursive: true })
for (const file of result.outputFiles) {
  const partial = `${file.path}.${process.pid}.partial`
  writeFileSync(partial, file.contents)
  renameSync(partial, file.path)
}
